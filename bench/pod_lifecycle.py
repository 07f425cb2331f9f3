#!/usr/bin/env python3
"""Pod start, delete and exec: podhost against podman `kube play` and bare runc, side by side.

Prints medians of N runs (default 7) and the ratios the lifecycle issue sets as targets:
  * seed Pod create → both containers running: ≤ 0.5 × podman kube play, ≤ 3 × two bare runc runs
  * delete of a Pod whose containers exit on SIGTERM: < 0.5 s (podman kube down ≈ 3.4 s)
  * exec round trip (`cat` of a file in the emptyDir): no slower than `podman exec`
With `--baseline DIR` (a checkout of an earlier commit, e.g. `git worktree add DIR REV`), that
commit's podhost runs beside this one and its start and delete are measured in the same rounds.
Usage: .venv/bin/python bench/pod_lifecycle.py [--runs N] [--no-podman] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, Node, ensure_podman, median

SEED = yaml.safe_load((REPO / "examples" / "data-sharing-pod.yaml").read_text())
QUICK_STOP = "trap 'exit 0' TERM; echo ready > /usr/share/nginx/html/index.html; sleep 3600 & wait"


def seed(name: str, quick_stop: bool = False) -> dict:
    """The seed Pod; images present, so IfNotPresent (`:latest` would make each start try the
    registry, which measures the network's failure to reach it, not the tools)."""
    pod = json.loads(json.dumps(SEED))
    pod["metadata"]["name"] = name
    for c in pod["spec"]["containers"]:
        c["imagePullPolicy"] = "IfNotPresent"
    if quick_stop:
        pod["spec"]["containers"][1]["command"] = ["/bin/sh", "-c", QUICK_STOP]
    return pod


def both_running(pod: dict) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return len(statuses) == 2 and all("running" in s.get("state", {}) for s in statuses)


def podhost_start(node: Node, name: str) -> float:
    start = time.perf_counter()
    node.request("POST", "/api/v1/namespaces/default/pods", seed(name, quick_stop=True))
    while not both_running(node.request("GET", f"/api/v1/namespaces/default/pods/{name}")):
        time.sleep(0.005)
    return time.perf_counter() - start


def podhost_delete(node: Node, name: str) -> float:
    start = time.perf_counter()
    node.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    while node.request("GET", f"/api/v1/namespaces/default/pods/{name}").get("kind") == "Pod":
        time.sleep(0.005)
    return time.perf_counter() - start


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def podman_start_delete(name: str, work: Path) -> tuple[float, float]:
    pod = seed(name, quick_stop=True)
    for c in pod["spec"]["containers"]:
        c["imagePullPolicy"] = "Never"
    manifest = work / f"{name}.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    start = time.perf_counter()
    subprocess.run(["podman", "kube", "play", str(manifest)], check=True, capture_output=True)
    names = [f"{name}-{c['name']}" for c in pod["spec"]["containers"]]
    while True:
        out = subprocess.run(["podman", "inspect", "--format", "{{.State.Running}}", *names],
                             capture_output=True, text=True).stdout.split()
        if out == ["true", "true"]:
            break
        time.sleep(0.005)
    started = time.perf_counter() - start
    deleted = timed(["podman", "kube", "down", str(manifest)])
    return started, deleted


def bare_runc_pair(node: Node, work: Path) -> float:
    """Two `runc run -d` of busybox from the image's unpacked layer (read-only root)."""
    layers = sorted((node.root / "images" / "layers").glob("*/diff"),
                    key=lambda p: sum(1 for _ in p.iterdir()))
    rootfs = next(p for p in layers if (p / "bin" / "busybox").exists())
    hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True,
                              text=True).stdout)
    ids = [f"bench-{time.monotonic_ns()}-{i}" for i in range(2)]
    bundles = []
    for cid in ids:
        bundle = work / cid
        bundle.mkdir()
        subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["root"] = {"path": str(rootfs), "readonly": True}
        spec["process"].update(terminal=False, args=["sleep", "3600"])
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": hard}]
        (bundle / "config.json").write_text(json.dumps(spec))
        bundles.append(bundle)
    start = time.perf_counter()
    for cid, bundle in zip(ids, bundles):
        subprocess.run(["runc", "run", "-d", "--bundle", str(bundle), cid], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    for cid in ids:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True)
    return elapsed


def baseline_cycle(baseline: Node, name: str, results: dict[str, list[float]]) -> None:
    """Start and delete on the baseline node, with the node's CPU time for the cycle."""
    cpu = baseline.cpu_seconds()
    results["baseline start"].append(podhost_start(baseline, name))
    results["baseline delete"].append(podhost_delete(baseline, name))
    results["baseline cpu"].append(baseline.cpu_seconds() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-podman", action="store_true")
    parser.add_argument("--baseline", type=Path, help="checkout of an earlier commit")
    parser.add_argument("--source", type=Path, help="checkout to measure (default: this one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    node = Node(source=args.source)
    baseline = Node(source=args.baseline) if args.baseline else None
    results: dict[str, list[float]] = {k: [] for k in (
        "podhost start", "podhost delete", "podhost cpu", "baseline start", "baseline delete",
        "baseline cpu", "podman start",
        "podman delete", "runc pair", "kubectl exec", "podman exec")}
    try:
        use_podman = not args.no_podman and ensure_podman()
        for i in range(args.runs):
            name = f"bench-seed-{i}"
            if baseline is not None and i % 2:  # alternate who goes first
                baseline_cycle(baseline, name, results)
            cpu = node.cpu_seconds()
            results["podhost start"].append(podhost_start(node, name))
            spent = node.cpu_seconds() - cpu
            results["kubectl exec"].append(timed(
                ["kubectl", "exec", name, "-c", "app-container-1", "--", "cat",
                 "/usr/share/nginx/html/index.html"], env=node.env()))
            cpu = node.cpu_seconds()
            results["podhost delete"].append(podhost_delete(node, name))
            results["podhost cpu"].append(spent + node.cpu_seconds() - cpu)
            if baseline is not None and not i % 2:
                baseline_cycle(baseline, name, results)
            results["runc pair"].append(bare_runc_pair(node, work))
            if use_podman:
                s, d = podman_start_delete(f"pmseed{i}", work)
                results["podman start"].append(s)
                results["podman delete"].append(d)
        if use_podman:
            play = seed("pmexec", quick_stop=True)
            for c in play["spec"]["containers"]:
                c["imagePullPolicy"] = "Never"
            manifest = work / "pmexec.yaml"
            manifest.write_text(yaml.safe_dump(play))
            subprocess.run(["podman", "kube", "play", str(manifest)], check=True,
                           capture_output=True)
            time.sleep(1)
            for _ in range(args.runs):
                results["podman exec"].append(timed(
                    ["podman", "exec", "pmexec-app-container-1", "cat",
                     "/usr/share/nginx/html/index.html"]))
            subprocess.run(["podman", "kube", "down", str(manifest)], capture_output=True)
    finally:
        node.close()
        if baseline is not None:
            baseline.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results: dict[str, list[float]]) -> None:
    med = {k: median(v) for k, v in results.items() if v}
    print("| measurement | median (s) | runs |")
    print("|---|---|---|")
    for key, values in results.items():
        if values:
            print(f"| {key} | {med[key]:.3f} | {len(values)} |")
    print()
    if "podman start" in med:
        print(f"seed start: podhost/podman = {med['podhost start'] / med['podman start']:.2f} "
              "(target ≤ 0.5)")
        print(f"delete: podhost {med['podhost delete']:.3f} s vs podman kube down "
              f"{med['podman delete']:.3f} s (target < 0.5 s)")
        print(f"exec: kubectl/podman = {med['kubectl exec'] / med['podman exec']:.2f} "
              "(target ≤ 1.0)")
    if "baseline start" in med:
        print(f"against the baseline commit: start {med['podhost start']:.3f} vs "
              f"{med['baseline start']:.3f} s ({med['podhost start'] / med['baseline start']:.2f}"
              f"x), delete {med['podhost delete']:.3f} vs {med['baseline delete']:.3f} s "
              f"({med['podhost delete'] / med['baseline delete']:.2f}x), node CPU per start + "
              f"delete {med['podhost cpu']:.3f} vs {med['baseline cpu']:.3f} s "
              f"({med['podhost cpu'] / med['baseline cpu']:.2f}x)")
    print(f"seed start: podhost / two bare runc runs = "
          f"{med['podhost start'] / med['runc pair']:.2f} (target ≤ 3)")


if __name__ == "__main__":
    main()
