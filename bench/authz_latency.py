#!/usr/bin/env python3
"""What authentication and RBAC cost a request: LIST and GET of Pods, one keep-alive HTTPS
connection each, with the admin token (group system:masters: allowed before any RBAC object is
read) against a ServiceAccount token bound to `view` (ES256 signature checked, its ServiceAccount
and Pod looked up, the RBAC policy evaluated) and a user certificate bound to `view`.

The three run interleaved, round after round, so a busy machine weighs on them alike.
`--baseline DIR` runs the admin token alone against another `src/` too, interleaved with this
one: docs/benchmarks.md used a copy of this tree whose `ApiServer.authenticated` was put back to
the admin-token-or-any-certificate check of before RBAC.
Usage: .venv/bin/python bench/authz_latency.py [--pods 20] [--rounds 10] [--requests 50]
       [--baseline DIR]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from common import Node, percentile

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ""}, "spec": {
    "terminationGracePeriodSeconds": 0, "containers": [{
        "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "3600"]}]}}


class Client:
    def __init__(self, node: Node, token: str = "", cert: tuple[str, str] | None = None) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(*cert)
        self.conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=ctx, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def time(self, path: str) -> float:
        start = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        return (time.perf_counter() - start) * 1000


def user_cert(node: Node, directory: Path) -> tuple[str, str]:
    text = subprocess.run([str(Path(".venv/bin/podhost").resolve()), "kubeconfig", "--root",
                           str(node.root), "--user", "bench", "--group", "readers"],
                          capture_output=True, text=True, check=True).stdout
    user = yaml.safe_load(text)["users"][0]["user"]
    paths = (directory / "bench.crt", directory / "bench.key")
    for path, key in zip(paths, ("client-certificate-data", "client-key-data"), strict=True):
        path.write_bytes(base64.b64decode(user[key]))
    return str(paths[0]), str(paths[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    node = Node(("--pod-cidr", "none"))  # loopback-only Pods: no bridge shared with others
    base = Node(("--pod-cidr", "none"), source=args.baseline) if args.baseline else None
    try:
        for i in range(args.pods):
            POD["metadata"]["name"] = f"bench-{i}"  # type: ignore[index]
            for n in (node, base) if base else (node,):
                n.request("POST", "/api/v1/namespaces/default/pods", POD)
        node.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                     {"metadata": {"name": "bench-view"}, "roleRef": {
                         "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "view"}, "subjects": [
                         {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
                         {"kind": "Group", "name": "readers",
                          "apiGroup": "rbac.authorization.k8s.io"}]})
        token = node.request("POST", "/api/v1/namespaces/default/serviceaccounts/default/token",
                             {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                          "name": "bench-0"}}})
        with tempfile.TemporaryDirectory() as tmp:
            clients = {"admin token": Client(node, node.token),
                       "ServiceAccount token (RBAC)": Client(node, token["status"]["token"]),
                       "user certificate (RBAC)": Client(node, cert=user_cert(node, Path(tmp)))}
            if base is not None:
                clients["admin token, before RBAC"] = Client(base, base.token)
            results: dict[tuple[str, str], list[float]] = {}
            paths = {"LIST pods": "/api/v1/namespaces/default/pods",
                     "GET pod": "/api/v1/namespaces/default/pods/bench-0"}
            for _ in range(args.rounds):
                for who, client in clients.items():
                    for what, path in paths.items():
                        results.setdefault((what, who), []).extend(
                            client.time(path) for _ in range(args.requests))
        print("| request | credentials | n | p50 | p99 | p50 / admin |")
        print("|---|---|---|---|---|---|")
        for (what, who), times in results.items():
            admin = percentile(results[(what, "admin token")], 50)
            print(f"| {what} | {who} | {len(times)} | {percentile(times, 50):.2f} ms | "
                  f"{percentile(times, 99):.2f} ms | {percentile(times, 50) / admin:.2f}× |")
        print(json.dumps({f"{w}/{c}": round(percentile(t, 50), 3)
                          for (w, c), t in results.items()}))
    finally:
        for n in (node, base) if base else (node,):
            n.request("DELETE", "/api/v1/namespaces/default/pods")
        time.sleep(2)
        node.close()
        if base is not None:
            base.close()


if __name__ == "__main__":
    main()
