"""Objects the API server owns itself: system namespaces, default ServiceAccounts, the Node,
and the write-time rules of Secrets and Namespaces.

Pure functions build and check objects; the few functions that read the machine (`node_facts`)
are kept apart so the Node object can be built from given facts in tests.
"""

from __future__ import annotations

import base64
import binascii
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podhost.api import errors, meta, registry, strategy
from podhost.api.errors import FieldError
from podhost.api.types import Obj

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
KUBELET_VERSION = "v1.32.0"
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


# -- Namespaces and ServiceAccounts ---------------------------------------------------------------
def namespace(name: str) -> Obj:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    return strategy.prepare_for_create("namespaces", obj, None)


def default_service_account(ns: str) -> Obj:
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    return strategy.prepare_for_create("serviceaccounts", obj, ns)


def terminating_error(resource: str, name: str, ns: str) -> errors.ForbiddenError:
    cause = {"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
             "field": "metadata.namespace"}
    return errors.ForbiddenError.of(
        resource, name, f"unable to create new content in namespace {ns} because it is being "
        "terminated", details={"causes": [cause]})


# -- ConfigMaps and Secrets ------------------------------------------------------------------------
def _key_errors(keys: list[str], path: str) -> list[FieldError]:
    errs = []
    for key in keys:
        if not key or len(key) > 253 or not _DATA_KEY.match(key):
            errs.append(errors.invalid(f"{path}[{key}]", key,
                                       "a valid config key must consist of alphanumeric "
                                       "characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                       "'KEY_NAME',  or 'key-name', regex used for validation "
                                       "is '[-._a-zA-Z0-9]+')"))
    return errs


def prepare_secret(obj: Obj) -> Obj:
    """Decode checks on `data` (400 like the decoder) and `stringData` merged into `data`."""
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise errors.BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                                     "data must be an object")
    for value in data.values():
        if not isinstance(value, str):
            raise errors.BadRequestError(
                f'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                f'{type(value).__name__} into Go struct field Secret.data of type []uint8')
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise errors.BadRequestError(
                'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at '
                f"input byte {_bad_base64_offset(value)}") from None
    string_data = obj.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        raise errors.BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                                     "stringData must be an object")
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    if not obj.get("type"):
        obj["type"] = "Opaque"
    return obj


def _bad_base64_offset(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, ch in enumerate(value):
        if ch not in alphabet:
            return i if ch != "=" or len(value) % 4 else len(value)
    return len(value) - len(value) % 4


def validate(resource: str, obj: Obj) -> None:
    """Validation of the resources this module owns (Pods are api.validation's)."""
    name = obj.get("metadata", {}).get("name", "")
    kind = registry.kind_of(resource)
    errs: list[FieldError] = []
    if not name:
        errs.append(errors.required("metadata.name", "name or generateName is required"))
    elif resource in ("namespaces",):
        errs += [errors.invalid("metadata.name", name, m) for m in meta.dns1123_label_errors(name)]
    else:
        errs += [errors.invalid("metadata.name", name, m)
                 for m in meta.dns1123_subdomain_errors(name)]
    if resource in ("configmaps", "secrets"):
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        errs += _key_errors(list(data), "data")
        if resource == "configmaps":
            errs += _key_errors(list(binary), "binaryData")
            errs += [errors.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
                     for k in data if k in binary]
    if errs:
        raise errors.InvalidError(kind, name, errs)


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
