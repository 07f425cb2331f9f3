#!/usr/bin/env python3
"""The ingress proxy (HAProxy) against the Pod it routes to, in one run.

An nginx Pod serves a small static page; `wrk` (keep-alive connections, Debian's package)
loads it straight at the Pod IP and through the node's ingress (`Host: bench.localhost` on
the proxy's HTTP port), alternating rounds so that the machine's noise falls on both, with one
connection (latency) and with several (throughput). Goals (issue 29): p50 latency through the
ingress ≤ 1.5× direct, throughput ≥ 0.7× direct. Then a
reload under load: the Ingress is edited several times while wrk runs, counting socket errors
and non-2xx answers (goal: none).

Client, proxy and Pod share the machine's cores. Traffic goes only to loopback and to the
node's own Pod. Needs root and wrk.
Usage: .venv/bin/python bench/ingress.py [--seconds 5] [--connections 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

from common import Node, free_port, median

HOST = "bench.localhost"


def objects() -> list[dict]:
    script = "echo bench > /usr/share/nginx/html/index.html; exec nginx -g 'daemon off;'"
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"terminationGracePeriodSeconds": 1, "containers": [
             {"name": "nginx", "image": "nginx", "imagePullPolicy": "IfNotPresent",
              "command": ["sh", "-c", script], "ports": [{"containerPort": 80}]}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ingress(["/"]),
    ]


def ingress(paths: list[str]) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "bench"},
            "spec": {"rules": [{"host": HOST, "http": {"paths": [
                {"path": p, "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}
                for p in paths]}}]}}


def apply(node: Node, *objs: dict) -> None:
    subprocess.run(["kubectl", "apply", "-f", "-"], env=node.env(), check=True,
                   capture_output=True, input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                          "items": list(objs)}).encode())


def wait_answer(url: str, host: str = "") -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.read().strip() == b"bench":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(url: str, seconds: float, connections: int, host: str = "") -> dict[str, float]:
    """p50 latency (s), requests per second, errors (socket errors + non-2xx/3xx)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        args[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not p50 or not rps:
        sys.exit(f"cannot read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": float(p50[1]) * _UNITS[p50[2]], "rps": float(rps[1]),
            "errors": errors + (int(bad[1]) if bad else 0)}


def reloads_under_load(node: Node, url: str, seconds: float, connections: int) -> None:
    result: dict[str, float] = {}
    load = threading.Thread(target=lambda: result.update(
        wrk(url, seconds, connections, HOST)))
    load.start()
    edits = 0
    time.sleep(0.5)
    while load.is_alive() and edits < 8:
        apply(node, ingress(["/"] + [f"/v{edits}"]))
        edits += 1
        time.sleep(max(seconds - 1, 1) / 8)
    load.join()
    print(f"\nreloads under load: {edits} Ingress edits during {seconds:.0f} s of wrk "
          f"({result['rps']:.0f} req/s): {int(result['errors'])} errors "
          f"({'ok' if result['errors'] == 0 else 'FAIL'}: goal 0)")


def compare(direct_url: str, ingress_url: str, seconds: float, connections: int,
            rounds: int) -> dict[str, dict[str, float]]:
    """Medians of p50 and requests/s, direct and through the ingress, rounds alternating."""
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "ingress": []}
    for _ in range(rounds):
        runs["direct"].append(wrk(direct_url, seconds, connections))
        runs["ingress"].append(wrk(ingress_url, seconds, connections, HOST))
    return {k: {m: median([r[m] for r in v]) for m in ("p50", "rps")} for k, v in runs.items()}


def report(figures: dict[str, dict[str, float]], connections: int,
           args: argparse.Namespace) -> None:
    print(f"\nwrk, 1 thread, {connections} keep-alive connection(s), {args.seconds:.0f} s x "
          f"{args.rounds} rounds each (medians)")
    print("| path | p50 latency (ms) | requests/s |")
    print("|---|---|---|")
    for name, f in figures.items():
        print(f"| {name} | {f['p50'] * 1000:.3f} | {f['rps']:.0f} |")
    latency = figures["ingress"]["p50"] / figures["direct"]["p50"]
    throughput = figures["ingress"]["rps"] / figures["direct"]["rps"]
    print(f"p50 latency ingress/direct: {latency:.2f}x "
          f"({'ok' if latency <= 1.5 else 'FAIL'}: goal <= 1.5x)")
    print(f"throughput ingress/direct: {throughput:.2f}x "
          f"({'ok' if throughput >= 0.7 else 'FAIL'}: goal >= 0.7x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} on "
          f"{os.cpu_count()} cores")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    port = free_port()
    node = Node(("--ingress-http-port", str(port), "--ingress-https-port", "0"))
    try:
        apply(node, *objects())
        pod_ip = ""
        while not pod_ip:
            pod = node.request("GET", "/api/v1/namespaces/default/pods/web")
            pod_ip = (pod.get("status") or {}).get("podIP", "")
            time.sleep(0.2)
        direct_url, ingress_url = f"http://{pod_ip}/", f"http://127.0.0.1:{port}/"
        wait_answer(direct_url)
        wait_answer(ingress_url, HOST)
        wrk(ingress_url, 1, args.connections, HOST)  # warm up both paths
        wrk(direct_url, 1, args.connections)
        report(compare(direct_url, ingress_url, args.seconds, 1, args.rounds), 1, args)
        report(compare(direct_url, ingress_url, args.seconds, args.connections, args.rounds),
               args.connections, args)
        reloads_under_load(node, ingress_url, max(args.seconds, 4), args.connections)
    finally:
        subprocess.run(["kubectl", "delete", "pod", "web", "--wait=true", "--timeout=30s"],
                       env=node.env(), capture_output=True)
        node.close()


if __name__ == "__main__":
    main()
