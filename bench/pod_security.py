#!/usr/bin/env python3
"""What PodSecurity admission costs a Pod create: POST /api/v1/namespaces/NS/pods through the
API server's whole write path (decoding, defaulting, validation, ServiceAccount admission,
PodSecurity, the store's write), in-process (no HTTPS, no node running the Pods: the admission's
share of the cost is the largest it can be), into three namespaces, interleaved round after round:

  * plain: no pod-security labels (the default policy, privileged: PodSecurity looks at the
    labels and stops);
  * restricted: enforce, audit and warn at restricted (every check run on a compliant Pod);
  * warned: warn and audit at restricted on a Pod that violates it (the checks, the aggregated
    message, a Warning header).

Prints each namespace's median create time and the ratios to plain (target ≤ 1.1 ×).
Usage: .venv/bin/python bench/pod_security.py [--rounds 15] [--pods 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Request, Response
from podhost.apiserver.objects import NodeFacts
from podhost.store.sqlite import Store

TOKEN = "bench-token"
PSA = "pod-security.kubernetes.io/"
COMPLIANT = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
             "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
NAMESPACES = {
    "plain": ({}, COMPLIANT),
    "restricted": ({PSA + m: "restricted" for m in ("enforce", "audit", "warn")}, COMPLIANT),
    "warned": ({PSA + "warn": "restricted", PSA + "audit": "restricted"}, {}),
}


class IdleNode:
    node_name = "bench"


def post(path: str, body: Any) -> Request:
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    return Request("POST", path, {}, headers, list(headers.items()), json.dumps(body).encode(),
                   raw_target=path)


async def create(api: ApiServer, ns: str, name: str, security: dict[str, Any]) -> float:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"],
                                    "resources": {"limits": {"cpu": "100m"}},
                                    "securityContext": security}]}}
    started = time.perf_counter()
    resp = await api.handle(post(f"/api/v1/namespaces/{ns}/pods", pod))
    elapsed = time.perf_counter() - started
    assert isinstance(resp, Response) and resp.status == 201, resp
    return elapsed


async def run(rounds: int, pods: int) -> dict[str, list[float]]:
    root = Path(tempfile.mkdtemp(prefix="podhost-bench-psa-"))
    api = ApiServer(Store(root / "db.sqlite"), IdleNode(), token=TOKEN,  # type: ignore[arg-type]
                    node_facts=NodeFacts(cpus=4, memory_kib=8 << 20, storage_bytes=100 << 30,
                                         kernel="6.1", os_image="bench", runtime_version="runc"))
    for ns, (labels, _) in NAMESPACES.items():
        resp = await api.handle(post("/api/v1/namespaces",
                                     {"metadata": {"name": ns, "labels": labels}}))
        assert isinstance(resp, Response) and resp.status == 201, resp
    medians: dict[str, list[float]] = {ns: [] for ns in NAMESPACES}
    for r in range(rounds):
        for ns, (_, security) in NAMESPACES.items():
            times = [await create(api, ns, f"p-{r}-{i}", security) for i in range(pods)]
            medians[ns].append(statistics.median(times))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pods", type=int, default=100)
    args = parser.parse_args()
    medians = asyncio.run(run(args.rounds, args.pods))
    plain = statistics.median(medians["plain"])
    print(f"{args.rounds} rounds × {args.pods} Pod creates per namespace, interleaved")
    print("| namespace | median create (ms) | × plain |")
    print("|---|---|---|")
    for ns, values in medians.items():
        m = statistics.median(values)
        print(f"| {ns} | {m * 1000:.3f} | {m / plain:.3f} |")


if __name__ == "__main__":
    main()
