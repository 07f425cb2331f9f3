#!/usr/bin/env python3
"""Node scale: 110 busybox Pods of two containers each (kubelet's default max-pods) on podhost,
and on podman side by side.

podhost: the Pods are POSTed through the API all at once (concurrent requests); a watch on the
namespace, opened before the first POST, times the moment the last one is Running and, after the
DELETEs, the moment the last one is gone. Memory: the `podhost serve` process (RSS) and, per Pod,
everything podhost started for it apart from the workload (conmon; podhost starts no other helper
per Pod, which the bench checks), as RSS and PSS sums.

podman: the same 110 manifests as one multi-document file, `podman kube play` (one command for
all Pods, the same manifests) on podman's default bridge network, as podhost Pods are on its
bridge (`--network none`: loopback-only Pods on both, podhost with `--pod-cidr none`); then
`podman kube down`. Per Pod: both conmons (infra and app container) plus the infra container's
process.

Each container runs `sleep 3600` under a shell that exits on SIGTERM, so that a delete measures the
tools rather than a 30 s grace period; the workload's own memory is left out everywhere.
Usage: .venv/bin/python bench/many_pods.py [--pods N] [--containers N] [--network bridge|none]
       [--no-podman]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from common import (
    Node,
    async_client,
    children,
    cmdlines,
    ensure_podman,
    kill_node_pods,
    mem_kib,
    node_leftovers,
)

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
SLEEP = "trap 'exit 0' TERM; sleep 3600 & wait"


CONTAINERS = 2  # issue 6: 110 busybox Pods of two containers each
PODMAN_NETWORK: list[str] = []  # [] : podman's default bridge; ["--network", "none"]


def manifest(name: str, pull_policy: str = "IfNotPresent") -> dict[str, Any]:
    containers = [{"name": f"sleep-{i}", "image": "busybox", "imagePullPolicy": pull_policy,
                   "command": ["/bin/sh", "-c", SLEEP]} for i in range(CONTAINERS)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "many"}},
            "spec": {"containers": containers}}


def running(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    states = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(states) and all(
        "running" in s.get("state", {}) for s in states)


class PodWatch:
    """One watch on the namespace's Pods: which are Running, which are gone, and when."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.running: set[str] = set()
        self.deleted: set[str] = set()
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = (await self.client.get(PODS)).json()
        rv = listed["metadata"]["resourceVersion"]
        opened = asyncio.Event()
        self.task = asyncio.create_task(self._run(rv, opened))
        await opened.wait()

    async def _run(self, rv: str, opened: asyncio.Event) -> None:
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "3600"}
        async with self.client.stream("GET", PODS, params=params) as r:
            opened.set()
            async for line in r.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                name = event["object"]["metadata"]["name"]
                if not name.startswith(self.prefix):
                    continue
                if event["type"] == "DELETED":
                    self.deleted.add(name)
                    self.running.discard(name)
                elif running(event["object"]):
                    self.running.add(name)
                self.changed.set()

    async def until(self, done: Any, timeout: float = 600) -> float:
        """Wait until done() holds; returns the perf_counter time it was first seen."""
        deadline = time.perf_counter() + timeout
        while not done():
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("pods did not reach the awaited state")
            await asyncio.wait_for(self.changed.wait(), left)
        return time.perf_counter()

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def create_pods(client: Any, names: list[str]) -> None:
    results = await asyncio.gather(*(client.post(PODS, json=manifest(n)) for n in names))
    bad = [r.text[:200] for r in results if r.status_code != 201]
    if bad:
        raise RuntimeError(f"{len(bad)} creates failed: {bad[0]}")


async def delete_pods(client: Any, names: list[str]) -> None:
    await asyncio.gather(*(client.delete(f"{PODS}/{n}") for n in names))


async def burst(node: Node, watch: PodWatch, send: Any, names: list[str],
                reached: Any) -> dict[str, float]:
    """send(client, names) in one go, then wait until reached(watch): seconds until answered,
    seconds until reached, and the CPU seconds `podhost serve` spent meanwhile."""
    cpu, start = cpu_seconds(node.proc.pid), time.perf_counter()
    await send(watch.client, names)
    answered = time.perf_counter() - start
    done = await watch.until(lambda: reached(watch))
    return {"answered": answered, "done": done - start, "cpu": cpu_seconds(node.proc.pid) - cpu}


def all_running(n: int) -> Any:
    return lambda watch: len(watch.running) == n


def all_deleted(n: int) -> Any:
    return lambda watch: len(watch.deleted) == n


def node_pod_processes(node: Node) -> dict[str, list[int]]:
    """The node's per-Pod processes: conmons, their workload children, and any other helper."""
    root = str(node.root)
    procs = {pid: cmd for pid, cmd in cmdlines().items() if root in cmd}
    conmons = [pid for pid, cmd in procs.items() if cmd.startswith("/usr/bin/conmon")
               or cmd.split(" ", 1)[0].endswith("conmon")]
    serve = {node.proc.pid}
    helpers = [pid for pid in procs if pid not in conmons and pid not in serve
               and "podhost images" not in procs[pid]]
    workloads = [c for pid in conmons for c in children(pid)]
    return {"conmon": conmons, "helpers": helpers, "workloads": workloads}


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_sum(pids: list[int]) -> tuple[int, int]:
    pairs = [mem_kib(p) for p in pids]
    return sum(r for r, _ in pairs), sum(p for _, p in pairs)


async def podhost_run(node: Node, n: int, out: dict[str, Any]) -> None:
    names = [f"many-{i:03d}" for i in range(n)]
    async with async_client(node, connections=max(n, 10)) as client:
        watch = PodWatch(client, "many-")
        await watch.start()
        await asyncio.sleep(0.5)
        out["serve rss idle (MiB)"] = node.rss_kib() / 1024
        try:
            t = await burst(node, watch, create_pods, names, all_running(n))
            out["podhost: all POSTs answered (s)"] = t["answered"]
            out["podhost: create → all Running (s)"] = t["done"]
            out["serve CPU during create (s)"] = t["cpu"]
            out["serve rss at all Running (MiB)"] = node.rss_kib() / 1024
            await asyncio.sleep(3)
            procs = node_pod_processes(node)
            rss, pss = mem_sum(procs["conmon"])
            hrss, hpss = mem_sum(procs["helpers"])
            out["serve rss settled (MiB)"] = node.rss_kib() / 1024
            out["conmon processes"] = len(procs["conmon"])
            out["other per-Pod helpers"] = len(procs["helpers"])
            out["conmon rss sum (MiB)"] = rss / 1024
            out["conmon pss sum (MiB)"] = pss / 1024
            out["podhost per-Pod overhead rss (KiB)"] = (rss + hrss) / n
            out["podhost per-Pod overhead pss (KiB)"] = (pss + hpss) / n
            out["serve rss growth per Pod (KiB)"] = (
                out["serve rss settled (MiB)"] - out["serve rss idle (MiB)"]) * 1024 / n
            t = await burst(node, watch, delete_pods, names, all_deleted(n))
            out["podhost: all DELETEs answered (s)"] = t["answered"]
            out["podhost: delete → all gone (s)"] = t["done"]
            out["serve CPU during delete (s)"] = t["cpu"]
            await asyncio.sleep(1)
            out["serve rss after delete (MiB)"] = node.rss_kib() / 1024
            out["podhost leftovers"] = node_leftovers(node)
            pods_dir = node.root / "pods"
            out["podhost leftovers"]["pod dirs"] = [p.name for p in pods_dir.iterdir()] \
                if pods_dir.is_dir() else []
        finally:
            await watch.stop()


# -- podman ------------------------------------------------------------------------------------

def podman_json(*args: str) -> Any:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout or "null")


def podman_pod_names(prefix: str) -> list[str]:
    return [p["Name"] for p in podman_json("pod", "ps", "--format", "json") or []
            if p["Name"].startswith(prefix)]


def podman_containers(prefix: str) -> list[dict[str, Any]]:
    return [c for c in podman_json("ps", "-a", "--pod", "--format", "json") or []
            if (c.get("PodName") or "").startswith(prefix)]


def podman_cleanup(prefix: str) -> None:
    names = podman_pod_names(prefix)
    if names:
        subprocess.run(["podman", "pod", "rm", "-f", "-t", "0", *names], capture_output=True)


def podman_run(n: int, work: Path, out: dict[str, Any]) -> None:
    prefix = "pmmany-"
    podman_cleanup(prefix)
    docs = [manifest(f"{prefix}{i:03d}", "Never") for i in range(n)]
    file = work / "pods.yaml"
    file.write_text(yaml.safe_dump_all(docs))
    try:
        start = time.perf_counter()
        subprocess.run(["podman", "kube", "play", *PODMAN_NETWORK, str(file)],
                       check=True, capture_output=True)
        out["podman: kube play returned (s)"] = time.perf_counter() - start
        deadline = time.perf_counter() + 600
        while True:  # kube play returns once started; confirm, as podman has no watch here
            ctrs = podman_containers(prefix)
            if sum(1 for c in ctrs if c["State"] == "running") == (CONTAINERS + 1) * n:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"podman: {len(ctrs)} containers, not all running")
            time.sleep(0.05)
        out["podman: play → all running (s)"] = time.perf_counter() - start
        time.sleep(3)
        ids = [c["Id"] for c in podman_containers(prefix)]
        infos = podman_json("inspect", *ids)
        conmons = [i["State"]["ConmonPid"] for i in infos]
        infra = [i["State"]["Pid"] for i in infos if i.get("IsInfra")]
        rss, pss = mem_sum(conmons)
        irss, ipss = mem_sum(infra)
        out["podman conmon processes"] = len(conmons)
        out["podman infra processes"] = len(infra)
        out["podman conmon rss sum (MiB)"] = rss / 1024
        out["podman infra rss sum (MiB)"] = irss / 1024
        out["podman per-Pod overhead rss (KiB)"] = (rss + irss) / n
        out["podman per-Pod overhead pss (KiB)"] = (pss + ipss) / n
        start = time.perf_counter()
        subprocess.run(["podman", "kube", "down", str(file)], check=True, capture_output=True)
        out["podman: kube down (s)"] = time.perf_counter() - start
        time.sleep(1)
        procs = cmdlines()
        alive = [pid for pid, cmd in procs.items()
                 if "conmon" in cmd and any(i in cmd for i in ids)]
        out["podman leftovers"] = {"pods": podman_pod_names(prefix), "conmon": alive}
    finally:
        podman_cleanup(prefix)


def report(out: dict[str, Any]) -> None:
    print("| measurement | value |")
    print("|---|---|")
    for key, value in out.items():
        if isinstance(value, float):
            value = f"{value:.3f}" if "(s)" in key else f"{value:.1f}"
        print(f"| {key} | {value} |")
    print()
    ratios = (("start", "podhost: create → all Running (s)", "podman: play → all running (s)"),
              ("delete", "podhost: delete → all gone (s)", "podman: kube down (s)"),
              ("per-Pod overhead (PSS)", "podhost per-Pod overhead pss (KiB)",
               "podman per-Pod overhead pss (KiB)"),
              ("per-Pod overhead (RSS)", "podhost per-Pod overhead rss (KiB)",
               "podman per-Pod overhead rss (KiB)"))
    for label, ours, theirs in ratios:
        if ours in out and theirs in out:
            print(f"{label}: podhost/podman = {out[ours] / out[theirs]:.2f}")


def interrupt_on_term() -> None:
    """SIGTERM (timeout, kill) unwinds like Ctrl-C, so the clean-up in `finally` runs."""
    def raise_interrupt(*_: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, raise_interrupt)


def main() -> None:
    global CONTAINERS, PODMAN_NETWORK
    interrupt_on_term()
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--no-podman", action="store_true")
    parser.add_argument("--containers", type=int, default=CONTAINERS,
                        help="containers per Pod (default 2)")
    parser.add_argument("--network", choices=("bridge", "none"), default="bridge",
                        help="bridge: Pod addresses on both tools' bridges (default); none: "
                             "loopback-only Pods on both")
    args = parser.parse_args()
    CONTAINERS = args.containers
    PODMAN_NETWORK = ["--network", "none"] if args.network == "none" else []
    out: dict[str, Any] = {"pods": args.pods, "containers per Pod": args.containers,
                           "network": args.network}
    try:
        node = Node(("--pod-cidr", "none") if args.network == "none" else ())
        try:
            asyncio.run(podhost_run(node, args.pods, out))
        finally:
            kill_node_pods(node)
            node.close()
        if not args.no_podman and ensure_podman():
            with tempfile.TemporaryDirectory(prefix="bench-") as work:
                podman_run(args.pods, Path(work), out)
    finally:
        report(out)


if __name__ == "__main__":
    main()
