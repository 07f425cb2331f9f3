"""From a Pod's container and its image config to what the runtime runs (pure).

The rules are kubelet's: command/args against the image's ENTRYPOINT/CMD, environment merged
over the image's, `$(VAR)` expansion, working directory and user.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from podhost.api import quantity
from podhost.node.expansion import expand

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    args: list[str]
    env: list[str]
    cwd: str
    user: str  # image or securityContext user, resolved against the rootfs later


def _env_pairs(image_env: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        pairs[key] = value
    return pairs


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


def field_ref(pod: Obj, path: str, host_ip: str = "", pod_ip: str = "") -> str:
    """The value of an env `valueFrom.fieldRef.fieldPath` (kubelet's podFieldSelectorRuntimeValue)."""
    m, spec = pod.get("metadata", {}), pod.get("spec", {})
    sub = _SUBSCRIPT.match(path)
    if sub:
        return str((m.get(sub.group(1)) or {}).get(sub.group(2), ""))
    simple = {"metadata.name": m.get("name"), "metadata.namespace": m.get("namespace"),
              "metadata.uid": m.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
              "status.hostIP": host_ip, "status.hostIPs": host_ip,
              "status.podIP": pod_ip, "status.podIPs": pod_ip}
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = m.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise LookupError(f"unsupported fieldRef fieldPath {path!r}")


def resource_ref(container: Obj, ref: Obj, node_cpu: int, node_memory: int) -> str:
    """An env `valueFrom.resourceFieldRef`: the limit (node capacity if unset) or request,
    divided by the divisor and rounded up, as kubelet's ExtractContainerResourceValue."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    res = (container.get("resources") or {})
    values = res.get(kind) or {}
    if name not in ("cpu", "memory", "ephemeral-storage") or kind not in ("limits", "requests"):
        raise LookupError(f"unsupported container resource: {resource}")
    if name in values:
        value = quantity.parse_decimal(str(values[name]))
    elif kind == "requests" and name in (res.get("limits") or {}):
        value = quantity.parse_decimal(str(res["limits"][name]))
    elif kind == "limits":
        value = Decimal(node_cpu if name == "cpu" else node_memory)
    else:
        value = Decimal(0)
    divisor = quantity.parse_decimal(str(ref.get("divisor") or "1"))
    if divisor == 0:
        divisor = Decimal(1)
    return str(math.ceil(value / divisor))


def env_value(item: Obj, pod: Obj, container: Obj, declared: dict[str, str],
              node: dict[str, Any]) -> str:
    source = item.get("valueFrom")
    if not source:
        return expand(item.get("value", ""), declared)
    if source.get("fieldRef"):
        return field_ref(pod, source["fieldRef"].get("fieldPath", ""),
                         node.get("host_ip", ""), node.get("pod_ip", ""))
    if source.get("resourceFieldRef"):
        ref = source["resourceFieldRef"]
        target = container
        if ref.get("containerName"):
            spec = pod.get("spec", {})
            target = next((c for c in [*(spec.get("initContainers") or []),
                                       *(spec.get("containers") or [])]
                           if c["name"] == ref["containerName"]), container)
        return resource_ref(target, ref, node.get("cpus", 1), node.get("memory", 0))
    raise LookupError(f"unsupported valueFrom for {item.get('name')}")


def container_env(container: Obj, image_config: Obj, extra: dict[str, str],
                  pod: Obj | None = None, node: dict[str, Any] | None = None) -> dict[str, str]:
    """The image's environment, then the container's `env` in order, expanding `$(VAR)`."""
    env = _env_pairs(image_config.get("Env") or [])
    env.update(extra)
    declared: dict[str, str] = {}
    for item in container.get("env") or []:
        declared[item["name"]] = env_value(item, pod or {}, container, declared, node or {})
        env[item["name"]] = declared[item["name"]]
    return env


@dataclass(frozen=True, slots=True)
class Limits:
    memory: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None


CPU_PERIOD = 100_000


def resource_limits(container: Obj) -> Limits:
    """cgroup values from `resources` as kubelet computes them (MilliCPUToQuota/Shares)."""
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    memory = quantity.parse_bytes(str(limits["memory"])) if "memory" in limits else None
    quota = period = None
    if "cpu" in limits:
        milli = math.ceil(quantity.parse_decimal(str(limits["cpu"])) * 1000)
        quota, period = max(1000, milli * CPU_PERIOD // 1000), CPU_PERIOD
    cpu_req = requests.get("cpu", limits.get("cpu"))
    shares = 2
    if cpu_req is not None:
        milli = math.ceil(quantity.parse_decimal(str(cpu_req)) * 1000)
        shares = max(2, milli * 1024 // 1000)
    return Limits(memory, quota, period, shares)


def capabilities(sc: Obj, defaults: tuple[str, ...]) -> tuple[str, ...] | None:
    """The capability set after securityContext.capabilities add/drop (None: the default)."""
    caps = sc.get("capabilities") or {}
    add, drop = caps.get("add") or [], caps.get("drop") or []
    if not add and not drop:
        return None

    def norm(name: str) -> str:
        upper = name.upper()
        return upper if upper.startswith("CAP_") else "CAP_" + upper

    drops = {norm(d) for d in drop}
    base = [] if "CAP_ALL" in drops else [c for c in defaults if c not in drops]
    adds = [norm(a) for a in add]
    if "CAP_ALL" in adds:
        return ("ALL",)
    return tuple(dict.fromkeys([*base, *adds]))


def seccomp(pod: Obj, container: Obj) -> str:
    """RuntimeDefault unless the container's (else the Pod's) profile is Unconfined."""
    psc = pod.get("spec", {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    profile = csc.get("seccompProfile") or psc.get("seccompProfile") or {}
    kind = profile.get("type") or "RuntimeDefault"
    if kind == "Localhost":
        raise LookupError("seccompProfile type Localhost is not supported by podhost")
    return "Unconfined" if kind == "Unconfined" else "RuntimeDefault"


def container_args(container: Obj, image_config: Obj, env: dict[str, str]) -> list[str]:
    """kubelet's rules: command replaces ENTRYPOINT and drops CMD; args replaces CMD."""
    entrypoint = list(image_config.get("Entrypoint") or [])
    cmd = list(image_config.get("Cmd") or [])
    command, args = container.get("command"), container.get("args")
    if command:
        argv = [expand(a, env) for a in command] + [expand(a, env) for a in args or []]
    elif args:
        argv = entrypoint + [expand(a, env) for a in args]
    else:
        argv = entrypoint + cmd
    return argv


def process_spec(pod: Obj, container: Obj, image_config: Obj,
                 extra_env: dict[str, str] | None = None,
                 node: dict[str, Any] | None = None) -> ProcessSpec:
    env = container_env(container, image_config, extra_env or {}, pod, node)
    argv = container_args(container, image_config, env)
    sc = {**(pod.get("spec", {}).get("securityContext") or {}),
          **(container.get("securityContext") or {})}
    user = image_config.get("User") or ""
    if sc.get("runAsUser") is not None:
        group = sc.get("runAsGroup")
        user = f"{sc['runAsUser']}:{group}" if group is not None else str(sc["runAsUser"])
    elif sc.get("runAsGroup") is not None:
        user = f"{user.split(':')[0] or 0}:{sc['runAsGroup']}"
    cwd = container.get("workingDir") or image_config.get("WorkingDir") or "/"
    return ProcessSpec(argv, [f"{k}={v}" for k, v in env.items()], cwd, user)


def _lookup(path: str, name: str, field: int) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) > field and parts[0] == name:
                    return parts
    except OSError:
        return None
    return None


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int]:
    """uid and gid for `user[:group]`, names looked up in the image's /etc/passwd and group."""
    name, _, grp = user.partition(":")
    uid, gid = 0, 0
    if name.isdigit():
        uid = int(name)
        entry = None
    elif name:
        entry = _lookup(passwd, name, 3)
        if entry is None:
            raise LookupError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if grp.isdigit():
        gid = int(grp)
    elif grp:
        gentry = _lookup(group, grp, 2)
        if gentry is None:
            raise LookupError(f"unable to find group {grp}: no matching entries in group file")
        gid = int(gentry[2])
    return uid, gid
