#!/usr/bin/env python3
"""Controller overhead: a Deployment scaled 0 → N replicas (one PATCH of its scale
subresource) until all N Pods are Running, against N bare Pods of the same template POSTed at
once (concurrent requests) in the same run, on the same node. The issue's goal: ratio ≤ 1.2.

Each round runs both, bare Pods first or second in turn, and waits until every Pod of the
previous step is gone. Pods run `sleep` under a shell that exits on SIGTERM (busybox,
IfNotPresent), on the node's bridge. Prints medians and the ratio.
With `--baseline DIR` (a checkout of an earlier commit), the same rounds run on a node of that
checkout too, in turn with this one, and the ratios new/old are printed.
Usage: .venv/bin/python bench/workloads.py [--replicas N] [--rounds R] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from common import Node, async_client, median

NS = "default"
SLEEP = "trap 'exit 0' TERM; sleep 3600 & wait"
TEMPLATE = {"metadata": {"labels": {"app": "bench"}}, "spec": {
    "terminationGracePeriodSeconds": 1, "containers": [
        {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", SLEEP]}]}}


def running(node: Node, selector: str) -> int:
    pods = node.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")
    return sum(1 for p in pods.get("items") or [] if p.get("status", {}).get("phase") ==
               "Running" and not p["metadata"].get("deletionTimestamp"))


def wait_for(node: Node, selector: str, count: int, timeout: float = 300) -> float:
    start = time.perf_counter()
    while True:
        if selector and running(node, selector) == count:
            return time.perf_counter() - start
        if not selector and not (node.request(
                "GET", f"/api/v1/namespaces/{NS}/pods").get("items")):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"timed out waiting for {count} Pods ({selector})")
        time.sleep(0.05)


async def post_all(node: Node, n: int, labels: dict[str, str]) -> None:
    async with async_client(node, connections=max(n, 10)) as client:
        async def one(i: int) -> None:
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"bare-{i:03d}", "labels": labels},
                   "spec": json.loads(json.dumps(TEMPLATE["spec"]))}
            r = await client.post(f"/api/v1/namespaces/{NS}/pods", json=pod)
            r.raise_for_status()
        await asyncio.gather(*(one(i) for i in range(n)))


async def patch(node: Node, path: str, body: dict[str, Any]) -> None:
    async with async_client(node) as client:
        r = await client.patch(path, content=json.dumps(body), headers={
            "Content-Type": "application/merge-patch+json"})
        r.raise_for_status()


def bare(node: Node, n: int) -> float:
    start = time.perf_counter()
    asyncio.run(post_all(node, n, {"run": "bare"}))
    wait_for(node, "run=bare", n)
    took = time.perf_counter() - start
    node.request("DELETE", f"/api/v1/namespaces/{NS}/pods?labelSelector=run%3Dbare")
    wait_for(node, "", 0)
    return took


def deployment(node: Node, n: int) -> float:
    apps = f"/apis/apps/v1/namespaces/{NS}/deployments"
    node.request("POST", apps, {"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "bench"}, "spec": {
                                    "replicas": 0, "selector": {"matchLabels": {"app": "bench"}},
                                    "template": TEMPLATE}})
    time.sleep(0.5)  # the empty ReplicaSet is made before the clock starts
    start = time.perf_counter()
    asyncio.run(patch(node, f"{apps}/bench/scale", {"spec": {"replicas": n}}))
    wait_for(node, "app=bench", n)
    took = time.perf_counter() - start
    node.request("DELETE", f"{apps}/bench")
    wait_for(node, "", 0)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="checkout of an earlier commit")
    args = parser.parse_args()
    nodes = {"new": None, **({"old": args.baseline} if args.baseline else {})}
    results: dict[str, dict[str, list[float]]] = {
        n: {"bare": [], "deployment": []} for n in nodes}
    for r in range(args.rounds):
        for label in (list(nodes) if r % 2 == 0 else list(nodes)[::-1]):
            node = Node(source=nodes[label])
            try:
                order = ("bare", "deployment") if r % 2 == 0 else ("deployment", "bare")
                for what in order:
                    took = bare(node, args.replicas) if what == "bare" else \
                        deployment(node, args.replicas)
                    results[label][what].append(took)
                    print(f"round {r + 1} {label}: {what:<10} {took:6.2f} s", flush=True)
            finally:
                node.close()
    for label, found in results.items():
        print(f"\n-- {label}")
        report(args.replicas, found)
    if "old" in results:
        for what in ("bare", "deployment"):
            ratio = median(results["new"][what]) / median(results["old"][what])
            print(f"{what}: new/old {ratio:.2f}")


def report(n: int, results: dict[str, Any]) -> None:
    b, d = median(results["bare"]), median(results["deployment"])
    print(f"\n{n} bare Pods POSTed at once → all Running:     {b:6.2f} s (median)")
    print(f"Deployment scaled 0 → {n} → all Running:       {d:6.2f} s (median)")
    print(f"controller overhead ratio (goal ≤ 1.2):          {d / b:6.2f}")


if __name__ == "__main__":
    main()
