#!/usr/bin/env python3
"""Services and cluster DNS: what the Services issue sets as targets.

  * request latency from a Pod through a ClusterIP against the same request to the Pod IP
    (goal ≤ 1.1×): busybox `wget` loops in a client Pod, and new-connection HTTP requests from
    the host (through the same DNAT);
  * DNS lookups through the kube-dns ClusterIP: p50/p99 from the host with dnspython (goal
    p99 < 5 ms), and `nslookup` from a Pod (process start included);
  * the time to render and apply the Service table for 100 Services × 2 endpoints, and to sync
    it again after one endpoint changes (goal < 100 ms), in a scratch nftables table.

Traffic goes only to the node's own Pods and Service addresses. Needs root.
Usage: .venv/bin/python bench/services.py [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import random
import subprocess
import sys
import time

import dns.message
import dns.query
from common import Node, median, percentile

from podhost.network.services import Layout, ServicePort, ServiceTable

CIDR = f"10.125.{random.randint(1, 250)}.0/24"


def pod(name: str, image: str, command: str, labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", command]}]}}


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


def host_requests(ip: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        conn = http.client.HTTPConnection(ip, 80, timeout=5)
        conn.request("GET", "/")
        conn.getresponse().read()
        conn.close()
        out.append(time.perf_counter() - start)
    return out


def latency(node: Node, cluster_ip: str, pod_ip: str, n: int) -> None:
    loop = "for i in $(seq {n}); do wget -qO- http://{ip}/ >/dev/null; done"
    svc, direct = [], []
    for _ in range(3):
        svc.append(in_pod(node, loop.format(n=n, ip=cluster_ip)))
        direct.append(in_pod(node, loop.format(n=n, ip=pod_ip)))
    print(f"from a Pod, {n} wget: ClusterIP {median(svc) / n * 1000:.2f} ms, Pod IP "
          f"{median(direct) / n * 1000:.2f} ms per request: {median(svc) / median(direct):.2f}×")
    via_svc = host_requests(cluster_ip, n * 2)
    via_pod = host_requests(pod_ip, n * 2)
    print(f"from the host, {n * 2} new connections: ClusterIP p50 "
          f"{median(via_svc) * 1000:.3f} ms, Pod IP p50 {median(via_pod) * 1000:.3f} ms: "
          f"{median(via_svc) / median(via_pod):.2f}×")


def dns_lookups(node: Node, dns_ip: str, n: int) -> None:
    times = []
    for i in range(n):
        q = dns.message.make_query("web.default.svc.cluster.local" if i % 2 else
                                   "kubernetes.default.svc.cluster.local", "A")
        start = time.perf_counter()
        dns.query.udp(q, dns_ip, timeout=2)
        times.append(time.perf_counter() - start)
    print(f"DNS from the host through {dns_ip}, {n} queries: p50 "
          f"{percentile(times, 50) * 1000:.3f} ms, p99 {percentile(times, 99) * 1000:.3f} ms")
    total = in_pod(node, "for i in $(seq 50); do nslookup web.default.svc.cluster.local "
                         ">/dev/null; done")
    print(f"DNS from a Pod, 50 nslookup runs: {total / 50 * 1000:.2f} ms each (process start "
          "and exec included)")


def sync_time() -> None:
    layout = Layout(f"podhost_svc_bench{random.randint(0, 9999)}",
                    ipaddress.IPv4Network("10.124.0.0/16"),
                    ipaddress.IPv4Network("10.244.0.0/16"), "podhost0")
    table = ServiceTable(layout)

    def ports(shift: int) -> list[ServicePort]:
        return [ServicePort(f"bench/s{i}:", f"10.124.{i // 200}.{i % 200 + 10}", "TCP", 80,
                            30000 + i, 0, ((f"10.244.{i + 1}.{2 + shift}", 8080),
                                           (f"10.244.{i + 1}.3", 8080)))
                for i in range(100)]
    try:
        start = time.perf_counter()
        table.apply(ports(0))
        first = time.perf_counter() - start
        again = []
        for shift in range(1, 6):
            start = time.perf_counter()
            table.apply(ports(shift if shift % 2 else 0))
            again.append(time.perf_counter() - start)
        print(f"100 Services × 2 endpoints: first sync {first * 1000:.1f} ms, re-sync after a "
              f"change {median(again) * 1000:.1f} ms (median of 5)")
    finally:
        table.remove()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sync_time()
    node = Node(("--service-cidr", CIDR))
    try:
        web = "echo ok > /usr/share/nginx/html/index.html; exec nginx -g 'daemon off;'"
        for obj in (pod("web-1", "nginx", web, {"app": "web"}),
                    pod("client", "busybox", "sleep 3600", {})):
            node.request("POST", "/api/v1/namespaces/default/pods", obj)
        node.request("POST", "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
        ips = wait_running(node, ["web-1", "client"])
        svc = node.request("GET", "/api/v1/namespaces/default/services/web")
        time.sleep(1)
        latency(node, svc["spec"]["clusterIP"], ips["web-1"], args.requests)
        dns_ip = str(ipaddress.IPv4Network(CIDR).network_address + 10)
        dns_lookups(node, dns_ip, 2000)
    finally:
        for name in ("web-1", "client"):
            node.request("DELETE", f"/api/v1/namespaces/default/pods/{name}",
                         {"gracePeriodSeconds": 0})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.request(
                "GET", "/api/v1/namespaces/default/pods").get("items"):
            time.sleep(0.2)
        node.close()  # no Pods left: the node removes its Service table


if __name__ == "__main__":
    main()
