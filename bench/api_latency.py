#!/usr/bin/env python3
"""API server under load, with 110 running Pods stored (kubelet's default max-pods).

  * `kubectl get pods` round trip (the binary run N times): p50/p99
  * LIST /api/v1/namespaces/default/pods by C concurrent clients (one keep-alive HTTPS connection
    each, bearer token from the node's kubeconfig): p50/p99 and throughput; the reference is
    GET /readyz (a trivial handler) under the same concurrency in the same run, and one client
    alone as a second reference
  * watch latency: W concurrent watchers on the namespace's Pods; a label is patched on a Pod and
    each watcher's MODIFIED event is timed from the PATCH response (target < 50 ms)
  * the `podhost serve` RSS before and (peak, sampled every 20 ms) during each load

Client and server share the machine's cores: the figures include the load generator's own time,
which the /readyz reference makes visible.
With `--baseline DIR` (a checkout of an earlier commit) the same loads run on a node of that
checkout afterwards, and the p50 ratios new/old are printed.
Usage: .venv/bin/python bench/api_latency.py [--pods 110] [--clients 50] [--requests 20]
       [--watchers 50] [--patches 20] [--kubectl-runs 30] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from common import Node, async_client, kill_node_pods, percentile
from many_pods import (
    PODS,
    PodWatch,
    all_deleted,
    all_running,
    burst,
    create_pods,
    delete_pods,
    interrupt_on_term,
)


class RssPeak:
    """Samples the node's RSS while a load runs."""

    def __init__(self, node: Node) -> None:
        self.node, self.peak, self.task = node, 0, None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.node.rss_kib())
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> RssPeak:
        self.peak = self.node.rss_kib()
        self.task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self.task
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms)}


def kubectl_get_pods(node: Node, runs: int, pods: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(["kubectl", "get", "pods"], env=node.env(), capture_output=True,
                           text=True, check=True)
        times.append(time.perf_counter() - start)
        if r.stdout.count(" Running ") != pods:
            raise RuntimeError(f"kubectl get pods: expected {pods} Running rows")
    return times


async def concurrent_gets(node: Node, path: str, clients: int, requests: int
                          ) -> tuple[list[float], float]:
    """clients tasks, each with its own connection, each sending requests GETs in a row."""
    latencies: list[float] = []
    ready = asyncio.Event()
    warmed = 0

    async def one_client() -> None:
        nonlocal warmed
        async with async_client(node, connections=1) as client:
            (await client.get(path)).raise_for_status()  # connect and warm up
            warmed += 1
            if warmed == clients:
                ready.set()
            await ready.wait()
            for _ in range(requests):
                start = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - start)
                r.raise_for_status()

    tasks = [asyncio.create_task(one_client()) for _ in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return latencies, len(latencies) / (time.perf_counter() - start)


async def watch_latency(node: Node, names: list[str], watchers: int, patches: int
                        ) -> tuple[list[float], list[float], int]:
    """Latencies from the PATCH response and from its sending to each watcher's event."""
    arrivals: dict[str, list[float]] = {}
    complete: dict[str, asyncio.Event] = {}
    opened = 0
    all_open = asyncio.Event()

    async with async_client(node, connections=1) as client:
        rv = (await client.get(PODS)).json()["metadata"]["resourceVersion"]

    async def watcher() -> None:
        nonlocal opened
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "600"}
        async with async_client(node, connections=1) as client:
            async with client.stream("GET", PODS, params=params) as r:
                opened += 1
                if opened == watchers:
                    all_open.set()
                async for line in r.aiter_lines():
                    now = time.perf_counter()
                    if '"bench-mark"' not in line:
                        continue
                    event = json.loads(line)
                    mark = event["object"]["metadata"]["labels"].get("bench-mark")
                    if event["type"] == "MODIFIED" and mark in arrivals:
                        arrivals[mark].append(now)
                        if len(arrivals[mark]) == watchers:
                            complete[mark].set()

    tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
    from_response: list[float] = []
    from_request: list[float] = []
    missed = 0
    try:
        await asyncio.wait_for(all_open.wait(), 60)
        async with async_client(node, connections=1) as client:
            for i in range(patches):
                mark = f"m{i}"
                arrivals[mark], complete[mark] = [], asyncio.Event()
                body = json.dumps({"metadata": {"labels": {"bench-mark": mark}}})
                sent = time.perf_counter()
                r = await client.patch(f"{PODS}/{names[i % len(names)]}", content=body,
                                       headers={"Content-Type":
                                                "application/merge-patch+json"})
                answered = time.perf_counter()
                r.raise_for_status()
                try:
                    await asyncio.wait_for(complete[mark].wait(), 10)
                except TimeoutError:
                    missed += watchers - len(arrivals[mark])
                from_response += [t - answered for t in arrivals[mark]]
                from_request += [t - sent for t in arrivals[mark]]
                await asyncio.sleep(0.2)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return from_response, from_request, missed


async def pods_burst(node: Node, send: Any, names: list[str], reached: Any) -> None:
    async with async_client(node, connections=max(len(names), 10)) as client:
        watch = PodWatch(client, "lat-")
        await watch.start()
        try:
            await burst(node, watch, send, names, reached)
        finally:
            await watch.stop()


async def run(node: Node, args: argparse.Namespace, out: dict[str, Any]) -> None:
    names = [f"lat-{i:03d}" for i in range(args.pods)]
    await pods_burst(node, create_pods, names, all_running(args.pods))
    async with async_client(node, connections=1) as client:
        size = len((await client.get(PODS)).content)
    out["LIST response size (KiB)"] = size / 1024
    await asyncio.sleep(2)
    out["serve rss, Pods running, idle (MiB)"] = node.rss_kib() / 1024

    async with RssPeak(node) as peak:
        out["kubectl get pods (ms)"] = stats(kubectl_get_pods(node, args.kubectl_runs, args.pods))
    out["serve rss peak, kubectl (MiB)"] = peak.peak / 1024
    for label, path, clients in (
            ("GET /readyz, 1 client (reference)", "/readyz", 1),
            ("LIST pods, 1 client", PODS, 1),
            (f"GET /readyz, {args.clients} clients (reference)", "/readyz", args.clients),
            (f"LIST pods, {args.clients} clients", PODS, args.clients)):
        async with RssPeak(node) as peak:
            lat, rate = await concurrent_gets(node, path, clients, args.requests)
        out[f"{label} (ms)"] = {**stats(lat), "req/s": rate}
        out[f"serve rss peak, {label} (MiB)"] = peak.peak / 1024
    async with RssPeak(node) as peak:
        resp, req, missed = await watch_latency(node, names, args.watchers, args.patches)
    out[f"watch, {args.watchers} watchers: PATCH response → event (ms)"] = {
        **stats(resp), "missed": missed}
    out[f"watch, {args.watchers} watchers: PATCH sent → event (ms)"] = stats(req)
    out["serve rss peak, watch (MiB)"] = peak.peak / 1024
    out["serve rss after the loads (MiB)"] = node.rss_kib() / 1024
    await pods_burst(node, delete_pods, names, all_deleted(args.pods))


def report(out: dict[str, Any], clients: int) -> None:
    print("| measurement | n | p50 (ms) | p99 (ms) | max (ms) | req/s |")
    print("|---|---|---|---|---|---|")
    for key, value in out.items():
        if isinstance(value, dict):
            rate = f"{value['req/s']:.0f}" if "req/s" in value else "-"
            print(f"| {key.removesuffix(' (ms)')} | {value['n']} | {value['p50']:.1f} | "
                  f"{value['p99']:.1f} | {value['max']:.1f} | {rate} |")
    print()
    for key, value in out.items():
        if not isinstance(value, dict):
            print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    lst = out.get(f"LIST pods, {clients} clients (ms)")
    ref = out.get(f"GET /readyz, {clients} clients (reference) (ms)")
    if lst and ref:
        print(f"LIST/readyz under {clients} clients: p50 {lst['p50'] / ref['p50']:.1f} ×, "
              f"p99 {lst['p99'] / ref['p99']:.1f} ×")
    for key, value in out.items():
        if key.startswith("watch") and "response" in key:
            verdict = "met" if value["p99"] < 50 else "NOT met"
            print(f"watch p99 {value['p99']:.1f} ms against the 50 ms target: {verdict}")


def main() -> None:
    interrupt_on_term()
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--patches", type=int, default=20)
    parser.add_argument("--kubectl-runs", type=int, default=30)
    parser.add_argument("--baseline", type=Path, help="checkout of an earlier commit")
    args = parser.parse_args()
    outs: dict[str, dict[str, Any]] = {}
    for label, source in (("new", None), *((("old", args.baseline),) if args.baseline else ())):
        out = outs[label] = {"pods": args.pods}
        try:
            node = Node(source=source)
            try:
                asyncio.run(run(node, args, out))
            finally:
                kill_node_pods(node)
                node.close()
        finally:
            print(f"\n-- {label}")
            report(out, args.clients)
    if "old" in outs:
        print("\n| measurement | p50 new/old |\n|---|---|")
        for key, value in outs["new"].items():
            old = outs["old"].get(key)
            if isinstance(value, dict) and isinstance(old, dict) and old["p50"]:
                print(f"| {key.removesuffix(' (ms)')} | {value['p50'] / old['p50']:.2f} |")


if __name__ == "__main__":
    main()
