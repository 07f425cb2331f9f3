"""The Node object of this machine, as a kubelet registers it.

Pure functions build and check objects; the few functions that read the machine (`node_facts`)
are kept apart so the Node object can be built from given facts in tests.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podhost.api import meta
from podhost.api.types import Obj

KUBELET_VERSION = "v1.32.0"


# -- The Node --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeFacts:
    cpus: int
    memory_kib: int
    storage_bytes: int
    kernel: str
    os_image: str
    runtime_version: str
    machine_id: str = ""
    boot_id: str = ""
    architecture: str = "amd64"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def parse_meminfo(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def parse_os_release(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def runc_version() -> str:
    try:
        out = subprocess.run([shutil.which("runc") or "runc", "--version"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "runc://unknown"
    m = re.search(r"runc version (\d+\.\d+\.\d+)", out)
    return f"runc://{m.group(1)}" if m else "runc://unknown"


def node_facts(root: Path | None = None) -> NodeFacts:
    """What the Node object says about this machine, read from /proc and /etc."""
    usage = shutil.disk_usage(root if root and root.exists() else "/")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return NodeFacts(cpus=os.cpu_count() or 1, memory_kib=parse_meminfo(_read("/proc/meminfo")),
                     storage_bytes=usage.total, kernel=platform.release(),
                     os_image=parse_os_release(_read("/etc/os-release")),
                     runtime_version=runc_version(),
                     machine_id=_read("/etc/machine-id").strip(),
                     boot_id=_read("/proc/sys/kernel/random/boot_id").strip(), architecture=arch)


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {"type": kind, "status": status, "lastHeartbeatTime": now,
            "lastTransitionTime": now, "reason": reason, "message": message}


def node_object(name: str, facts: NodeFacts, address: str = "127.0.0.1",
                pod_cidr: str = "") -> Obj:
    """The v1 Node for this machine, as a kubelet registers it."""
    now = meta.rfc3339()
    capacity = {"cpu": str(facts.cpus), "memory": f"{facts.memory_kib}Ki", "pods": "110",
                "ephemeral-storage": f"{facts.storage_bytes // 1024}Ki", "hugepages-2Mi": "0"}
    conditions = [
        _condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                   "kubelet has sufficient memory available", now),
        _condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                   "kubelet has no disk pressure", now),
        _condition("PIDPressure", "False", "KubeletHasSufficientPID",
                   "kubelet has sufficient PID available", now),
        _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
    ]
    labels = {"beta.kubernetes.io/arch": facts.architecture, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": facts.architecture, "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux"}
    obj: Obj = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels, "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]} if pod_cidr else {},
                "status": {"capacity": capacity, "allocatable": dict(capacity),
                           "conditions": conditions,
                           "addresses": [{"type": "InternalIP", "address": address},
                                         {"type": "Hostname", "address": name}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                           "nodeInfo": {"machineID": facts.machine_id,
                                        "systemUUID": facts.machine_id,
                                        "bootID": facts.boot_id, "kernelVersion": facts.kernel,
                                        "osImage": facts.os_image,
                                        "containerRuntimeVersion": facts.runtime_version,
                                        "kubeletVersion": KUBELET_VERSION,
                                        "kubeProxyVersion": KUBELET_VERSION,
                                        "operatingSystem": "linux",
                                        "architecture": facts.architecture}}}
    m = obj["metadata"]
    m["uid"] = meta.new_uid()
    m["creationTimestamp"] = now
    return obj
