#!/usr/bin/env python3
"""What a Prometheus scrape costs the node, with 110 running Pods (kubelet's default max-pods).

Each endpoint is scraped S times in a row on one kept-alive HTTPS connection (as Prometheus
keeps one per target); the figure is the CPU time `podhost serve` spent per scrape (user +
system, /proc/PID/stat), which includes the TLS, the authorization and the node proxy. The
reference, in the same run, is a LIST of the same 110 Pods (`GET /api/v1/namespaces/default/
pods`), the request every controller and `kubectl get pods` makes. Target (issue 31):
`/metrics/cadvisor` ≤ 100 ms of node CPU per scrape.

Usage: .venv/bin/python bench/scrape_cost.py [--pods 110] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import time

from common import Node, async_client, kill_node_pods
from many_pods import (
    PodWatch,
    all_deleted,
    all_running,
    create_pods,
    delete_pods,
    interrupt_on_term,
)

TARGET_MS = 100.0


def fetch(node: Node, path: str) -> bytes:
    if node.conn is None:
        node.conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=node.ctx,
                                                timeout=60)
    node.conn.request("GET", path, headers={"Authorization": f"Bearer {node.token}"})
    response = node.conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return body


def cost(node: Node, path: str, scrapes: int) -> dict[str, float]:
    """Node CPU ms and wall ms per scrape (median), and the body's size."""
    size = len(fetch(node, path))  # warm: the first scrape takes the CPU rates' first sample
    fetch(node, path)
    walls = []
    cpu = node.cpu_seconds()
    for _ in range(scrapes):
        start = time.perf_counter()
        fetch(node, path)
        walls.append(time.perf_counter() - start)
    return {"cpu_ms": (node.cpu_seconds() - cpu) / scrapes * 1000,
            "wall_ms": statistics.median(walls) * 1000, "bytes": size}


async def pods(node: Node, n: int, create: bool) -> None:
    """Create the n Pods and wait until all run, or delete them and wait until all are gone."""
    names = [f"scrape-{i:03d}" for i in range(n)]
    async with async_client(node, connections=max(n, 10)) as client:
        watch = PodWatch(client, "scrape-")
        await watch.start()
        try:
            await (create_pods if create else delete_pods)(client, names)
            done = all_running(n) if create else all_deleted(n)
            await watch.until(lambda: done(watch))
        finally:
            await watch.stop()


def main() -> None:
    interrupt_on_term()
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    node = Node()
    try:
        asyncio.run(pods(node, args.pods, create=True))
        node_name = node.request("GET", "/api/v1/nodes")["items"][0]["metadata"]["name"]
        proxy = f"/api/v1/nodes/{node_name}/proxy"
        paths = [("LIST 110 Pods (reference)", "/api/v1/namespaces/default/pods"),
                 ("/metrics/cadvisor", f"{proxy}/metrics/cadvisor"),
                 ("/metrics/resource", f"{proxy}/metrics/resource"),
                 ("/metrics (kubelet)", f"{proxy}/metrics"),
                 ("/stats/summary", f"{proxy}/stats/summary"),
                 ("/metrics (API server)", "/metrics")]
        results = {label: cost(node, path, args.scrapes) for label, path in paths}
        asyncio.run(pods(node, args.pods, create=False))
    finally:
        kill_node_pods(node)
        node.close()
    reference = results["LIST 110 Pods (reference)"]["cpu_ms"]
    print(f"{args.pods} Pods, {args.scrapes} scrapes per endpoint\n")
    print("| endpoint | node CPU per scrape (ms) | wall, median (ms) | size (KiB) | CPU / LIST |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['cpu_ms']:.1f} | {r['wall_ms']:.1f} | {r['bytes'] / 1024:.0f} | "
              f"{r['cpu_ms'] / reference:.2f} × |")
    cadvisor = results["/metrics/cadvisor"]["cpu_ms"]
    verdict = "met" if cadvisor <= TARGET_MS else "NOT met"
    print(f"\n/metrics/cadvisor: {cadvisor:.1f} ms of node CPU per scrape "
          f"(target ≤ {TARGET_MS:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
