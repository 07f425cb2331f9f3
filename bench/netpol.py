#!/usr/bin/env python3
"""NetworkPolicy: what the NetworkPolicy issue sets as targets, measured in one run.

  * per-request latency from a client Pod to a web Pod with 100 NetworkPolicies selecting the
    web Pod (it is isolated, every packet of a new connection is judged through the sets)
    against the same requests with no policy (goal ≤ 1.1×): busybox `wget` loops in the client,
    rounds alternated so that drift of a busy machine falls on both;
  * the time a policy change takes to be applied with 100 Pods and 100 policies: rebuild the
    rule model, render and apply it in one `nft` transaction (goal < 100 ms), in a scratch
    table; and on the real node, from the API's answer to the rule being in the kernel.

Traffic goes only to the node's own Pods. Needs root.
Usage: .venv/bin/python bench/netpol.py [--requests N]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Node, median

from podhost.network.policy import PolicyPod, build
from podhost.network.policytable import PolicyTable, table_name

NP = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"


def pod(name: str, image: str, command: str, labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", command],
                 "ports": [{"name": "http", "containerPort": 80}]}]}}


def policy(i: int, target: str = "web") -> dict:
    """One of 100 policies selecting the web Pod: port 80 from the client's label, and a port
    range of its own from a namespace selector and an ipBlock (so the sets are not trivial)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"np-{i}"},
            "spec": {"podSelector": {"matchLabels": {"app": target}}, "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                 "ports": [{"port": "http" if i % 2 else 80}]},
                {"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{i}"}}},
                          {"ipBlock": {"cidr": f"10.{i}.0.0/16",
                                       "except": [f"10.{i}.1.0/24"]}}],
                 "ports": [{"port": 1000 + i * 10, "endPort": 1005 + i * 10}]}]}}


def wait_running(node: Node, names: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ips = {}
        for name in names:
            p = node.request("GET", f"/api/v1/namespaces/default/pods/{name}")
            if p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP"):
                ips[name] = p["status"]["podIP"]
        if len(ips) == len(names):
            return ips
        time.sleep(0.2)
    sys.exit("the bench Pods did not start")


def in_pod(node: Node, command: str) -> float:
    start = time.monotonic()
    subprocess.run(["kubectl", "exec", "client", "--", "sh", "-c", command], env=node.env(),
                   check=True, capture_output=True)
    return time.monotonic() - start


def latency(node: Node, web_ip: str, n: int, rounds: int) -> None:
    """Rounds alternate (none, 100 policies, none, ...) and each ratio compares a round with
    its neighbours, so that the drift of a busy machine falls on both sides."""
    loop = f"for i in $(seq {n}); do wget -qO- http://{web_ip}/ >/dev/null; done"
    none, many = [in_pod(node, loop)], []
    for _ in range(rounds):
        for i in range(100):
            node.request("POST", NP, policy(i))
        time.sleep(0.5)
        many.append(in_pod(node, loop))
        node.request("DELETE", NP, {})  # deletecollection
        time.sleep(0.5)
        none.append(in_pod(node, loop))
    ratios = [m / ((a + b) / 2) for m, a, b in zip(many, none, none[1:])]
    print(f"from a Pod, {n} wget per round: no policy {median(none) / n * 1000:.2f} ms, 100 "
          f"policies selecting the server {median(many) / n * 1000:.2f} ms per request: "
          f"{median(ratios):.2f}× (median of {rounds} rounds' ratios: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")


def change_on_node(node: Node) -> None:
    """From the API's answer to a deny policy's rules being in the kernel, and back."""
    table = table_name(str(node.root.resolve()))

    def isolated() -> bool:
        return "jump" in subprocess.run(["nft", "list", "map", "ip", table, "ingress-pods"],
                                        capture_output=True, text=True).stdout
    times, gone = [], []
    for i in range(5):
        deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": f"deny-{i}"},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}
        node.request("POST", NP, deny)
        start = time.perf_counter()
        while not isolated() and time.perf_counter() - start < 10:
            time.sleep(0.002)
        times.append(time.perf_counter() - start)
        node.request("DELETE", f"{NP}/deny-{i}")
        start = time.perf_counter()
        while isolated() and time.perf_counter() - start < 10:
            time.sleep(0.002)
        gone.append(time.perf_counter() - start)
    print(f"on the node: a new policy enforced {median(times) * 1000:.1f} ms after the API "
          f"answered, a deleted one gone after {median(gone) * 1000:.1f} ms (median of 5, "
          "polling nft every 2 ms)")


def sync_time() -> None:
    """100 Pods in 10 namespaces, 100 policies: one policy changes, everything is rebuilt."""
    pods = [PolicyPod(f"ns{i % 10}", {"app": f"a{i % 20}", "role": "client" if i % 3 else ""},
                      int(ipaddress.IPv4Address("10.244.0.2")) + i, {("http", "TCP"): 80})
            for i in range(100)]
    namespaces = {f"ns{i}": {"team": f"t{i}"} for i in range(10)}
    policies = [{**policy(i, f"a{i % 20}"), "metadata": {"name": f"np-{i}",
                                                         "namespace": f"ns{i % 10}"}}
                for i in range(100)]
    with tempfile.TemporaryDirectory() as tmp:
        table = PolicyTable(f"{tmp}/bench{random.randint(0, 9999)}", registry=Path(tmp))
        try:
            start = time.perf_counter()
            table.apply(build(policies, pods, namespaces))
            first = time.perf_counter() - start
            wall, cpu = [], []
            for shift in range(1, 6):
                policies[0]["spec"]["ingress"][1]["ports"][0].update(port=2000 + shift,
                                                                     endPort=2005 + shift)
                start, used = time.perf_counter(), cpu_seconds()
                table.apply(build(policies, pods, namespaces))
                wall.append(time.perf_counter() - start)
                cpu.append(cpu_seconds() - used)
            elements = sum(len(r.any_port) + len(r.ports) for r in (table.applied or {}).values())
        finally:
            table.remove()
    print(f"100 Pods × 100 policies ({elements} set elements): first sync {first * 1000:.1f} "
          f"ms; a policy changed (model + render + nft of the Pods it selects): "
          f"{median(wall) * 1000:.1f} ms wall, {median(cpu) * 1000:.1f} ms CPU (median of 5)")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (nft): steadier than wall time on
    a busy machine."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sync_time()
    node = Node()
    try:
        web = "echo ok > /usr/share/nginx/html/index.html; exec nginx -g 'daemon off;'"
        for obj in (pod("web", "nginx", web, {"app": "web"}),
                    pod("client", "busybox", "sleep 3600", {"role": "client"})):
            node.request("POST", "/api/v1/namespaces/default/pods", obj)
        ips = wait_running(node, ["web", "client"])
        time.sleep(1)
        latency(node, ips["web"], args.requests, args.rounds)
        change_on_node(node)
    finally:
        node.request("DELETE", NP, {})
        for name in ("web", "client"):
            node.request("DELETE", f"/api/v1/namespaces/default/pods/{name}",
                         {"gracePeriodSeconds": 0})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.request(
                "GET", "/api/v1/namespaces/default/pods").get("items"):
            time.sleep(0.2)
        node.close()  # no Pods left: the node removes its policy table


if __name__ == "__main__":
    main()
