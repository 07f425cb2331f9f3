#!/usr/bin/env python3
"""Persistent storage: what the storage issue sets as targets.

  * a Pod with a new claim (default class, WaitForFirstConsumer: the claim is provisioned and
    bound while the Pod waits) from create to Running, against the same Pod with an emptyDir,
    in one run (goal: the claim adds < 100 ms);
  * provisioning 100 claims of an Immediate class until all are Bound, and deleting them until
    their volumes are gone;
  * write throughput (`dd` 256 MiB with fsync, timed by /proc/uptime in the Pod) in a
    provisioned volume against an emptyDir (goal ≥ 0.9×).

Needs root, btrfs-progs and loop devices. Usage: .venv/bin/python bench/storage.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import time
from typing import Any

from common import Node, median

NS = "/api/v1/namespaces/default"


def pod(name: str, volume: dict[str, Any], command: str = "sleep 3600") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 0, "volumes": [{"name": "d", **volume}],
        "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", command],
                        "volumeMounts": [{"name": "d", "mountPath": "/data"}]}]}}


def claim(name: str, size: str, cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if cls:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


def until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit("timed out")
        time.sleep(0.005)


def running(node: Node, name: str) -> bool:
    p = node.request("GET", f"{NS}/pods/{name}")
    return bool(p.get("status", {}).get("phase") == "Running")


def gone(node: Node, path: str) -> bool:
    return bool(node.request("GET", path).get("kind") == "Status")


def start_time(node: Node, name: str, with_claim: bool) -> float:
    volume = {"persistentVolumeClaim": {"claimName": name}} if with_claim else {"emptyDir": {}}
    start = time.monotonic()
    if with_claim:
        node.request("POST", f"{NS}/persistentvolumeclaims", claim(name, "16Mi"))
    node.request("POST", f"{NS}/pods", pod(name, volume))
    until(lambda: running(node, name))
    took = time.monotonic() - start
    node.request("DELETE", f"{NS}/pods/{name}")
    until(lambda: gone(node, f"{NS}/pods/{name}"))
    if with_claim:
        node.request("DELETE", f"{NS}/persistentvolumeclaims/{name}")
    return took


def provision_many(node: Node, count: int) -> tuple[float, float]:
    node.request("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "bench-now"}, "provisioner": "podhost.io/local-path",
        "volumeBindingMode": "Immediate"})
    start = time.monotonic()
    for i in range(count):
        node.request("POST", f"{NS}/persistentvolumeclaims", claim(f"many-{i}", "1Mi",
                                                                    "bench-now"))

    def bound() -> bool:
        items = node.request("GET", f"{NS}/persistentvolumeclaims")["items"]
        return bool(sum(p.get("status", {}).get("phase") == "Bound" for p in items) >= count)
    until(bound, 120)
    made = time.monotonic() - start
    start = time.monotonic()
    node.request("DELETE", f"{NS}/persistentvolumeclaims")
    until(lambda: not node.request("GET", "/api/v1/persistentvolumes")["items"], 120)
    return made, time.monotonic() - start


def dd_rate(node: Node, name: str) -> float:
    out = subprocess.run(["kubectl", "exec", name, "--", "sh", "-c",
                          "cut -d' ' -f1 /proc/uptime; dd if=/dev/zero of=/data/f bs=1M "
                          "count=256 conv=fsync 2>/dev/null; cut -d' ' -f1 /proc/uptime; "
                          "rm /data/f"], env=node.env(), capture_output=True, text=True,
                         check=True).stdout
    marks = [float(x) for x in re.findall(r"[\d.]+", out)]
    return 256 / (marks[1] - marks[0]) if len(marks) == 2 and marks[1] > marks[0] else 0.0


def throughput(node: Node, runs: int) -> tuple[float, float]:
    """Medians of `runs` alternating writes in a claim and in an emptyDir (MB/s)."""
    node.request("POST", f"{NS}/persistentvolumeclaims", claim("fast", "512Mi"))
    names: dict[str, dict[str, Any]] = {
        "tclaim": {"persistentVolumeClaim": {"claimName": "fast"}},
             "tempty": {"emptyDir": {}}}
    for name, volume in names.items():
        node.request("POST", f"{NS}/pods", pod(name, volume))
        until(lambda name=name: running(node, name))
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        for name in names:
            rates[name].append(dd_rate(node, name))
    for name in names:
        node.request("DELETE", f"{NS}/pods/{name}")
        until(lambda name=name: gone(node, f"{NS}/pods/{name}"))
    node.request("DELETE", f"{NS}/persistentvolumeclaims/fast")
    until(lambda: not node.request("GET", "/api/v1/persistentvolumes")["items"])
    return median(rates["tclaim"]), median(rates["tempty"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    node = Node(("--pod-cidr", "none"))
    try:
        start_time(node, "warm", True)
        empty = [start_time(node, f"e{i}", False) for i in range(args.runs)]
        claimed = [start_time(node, f"c{i}", True) for i in range(args.runs)]
        print(f"create → Running, median of {args.runs}: emptyDir {median(empty) * 1000:.0f} ms, "
              f"new claim {median(claimed) * 1000:.0f} ms "
              f"(+{(median(claimed) - median(empty)) * 1000:.0f} ms)")
        made, deleted = provision_many(node, 100)
        print(f"100 claims (Immediate): all Bound in {made:.2f} s, deleted with their volumes "
              f"in {deleted:.2f} s")
        in_claim, in_empty = throughput(node, args.runs)
        print(f"dd 256 MiB fsync, median of {args.runs} alternating: claim {in_claim:.0f} MB/s, "
              f"emptyDir {in_empty:.0f} MB/s ({in_claim / in_empty:.2f}×)")
    finally:  # nothing left running or mounted, even after a failure
        node.request("DELETE", f"{NS}/pods")
        node.request("DELETE", f"{NS}/persistentvolumeclaims")
        with contextlib.suppress(SystemExit):
            until(lambda: not node.request("GET", f"{NS}/pods")["items"] and
                  not node.request("GET", "/api/v1/persistentvolumes")["items"], 60)
        node.close()


if __name__ == "__main__":
    main()
