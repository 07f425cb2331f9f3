"""From a Pod's container and its image config to what the runtime runs (pure).

The rules are kubelet's: command/args against the image's ENTRYPOINT/CMD, environment merged
over the image's, `$(VAR)` expansion, working directory and user.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from podhost.api import quantity
from podhost.api.podutil import container_by_name
from podhost.api.types import Obj
from podhost.node.expansion import expand
from podhost.runtime.spec import ALL_CAPABILITIES, normalize_capability


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
    """An env `valueFrom.fieldRef.fieldPath` (kubelet's podFieldSelectorRuntimeValue)."""
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


Getter = Callable[[str, str], "Obj | None"]  # (resource, name) → object, None: not found


def object_getter(pod: Obj, node: dict[str, Any]) -> Getter | None:
    """How to read the Pod's ConfigMaps and Secrets: node["get"], else node["store"]."""
    if node.get("get") is not None:
        return cast(Getter, node["get"])
    if node.get("store") is not None:
        from podhost.volumes.projection import store_getter
        return store_getter(node["store"], pod.get("metadata", {}).get("namespace") or "default")
    return None


def _source_data(kind: str, obj: Obj) -> dict[str, str]:
    """Env values of a ConfigMap's `data` (binaryData is not used) or a Secret's data."""
    if kind == "configmap":
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: base64.b64decode(v).decode("utf-8", "surrogateescape")
           for k, v in (obj.get("data") or {}).items()}
    out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return out


def _lookup_source(kind: str, name: str, optional: bool, get: Getter | None
                   ) -> dict[str, str] | None:
    """A ConfigMap's or Secret's values; None when it is missing and optional; LookupError with
    kubelet's text (`configmap "x" not found`) when missing and required."""
    obj = get("configmaps" if kind == "configmap" else "secrets", name) if get else None
    if obj is None:
        if optional:
            return None
        raise LookupError(f'{kind} "{name}" not found')
    return _source_data(kind, obj)


def relaxed_env_name_ok(name: str) -> bool:
    """IsRelaxedEnvVarName (1.32, RelaxedEnvironmentVariableValidation on by default):
    non-empty, printable ASCII, no `=`."""
    return bool(name) and all(" " <= ch <= "~" and ch != "=" for ch in name)


def env_from(container: Obj, pod: Obj, get: Getter | None) -> tuple[dict[str, str], list[str]]:
    """The variables of `envFrom` in order (later sources win), and the names skipped as
    invalid (kubelet's InvalidEnvironmentVariableNames)."""
    env: dict[str, str] = {}
    invalid: list[str] = []
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
            ref = source.get(key)
            if ref is None:
                continue
            data = _lookup_source(kind, ref.get("name") or "", bool(ref.get("optional")), get)
            for k, v in (data or {}).items():
                if not relaxed_env_name_ok(prefix + k):
                    invalid.append(prefix + k)
                    continue
                env[prefix + k] = v
    return env, sorted(invalid)


def env_value(item: Obj, pod: Obj, container: Obj, declared: dict[str, str],
              node: dict[str, Any], get: Getter | None = None) -> str | None:
    """One `env` entry's value (kubelet's makeEnvironmentVariables); None when an optional
    source or key is missing, which leaves the variable out."""
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
            target = container_by_name(pod, ref["containerName"]) or container
        return resource_ref(target, ref, node.get("cpus", 1), node.get("memory", 0))
    for key, kind, label in (("configMapKeyRef", "configmap", "ConfigMap"),
                             ("secretKeyRef", "secret", "Secret")):
        ref = source.get(key)
        if ref is None:
            continue
        name, want, optional = ref.get("name") or "", ref.get("key") or "", bool(
            ref.get("optional"))
        data = _lookup_source(kind, name, optional, get)
        if data is None:
            return None
        if want not in data:
            if optional:
                return None
            namespace = pod.get("metadata", {}).get("namespace") or "default"
            raise LookupError(f"couldn't find key {want} in {label} {namespace}/{name}")
        return data[want]
    raise LookupError(f"unsupported valueFrom for {item.get('name')}")


def pod_env(container: Obj, pod: Obj | None = None, node: dict[str, Any] | None = None,
            extra: dict[str, str] | None = None) -> dict[str, str]:
    """The variables kubelet gives the runtime (envFrom, then `env` in order, `$(VAR)` expanded
    against those before it); what command and args are expanded against. Not the image's."""
    pod, node = pod or {}, node or {}
    get = object_getter(pod, node)
    env = dict(extra or {})
    env.update(env_from(container, pod, get)[0])
    for item in container.get("env") or []:
        value = env_value(item, pod, container, env, node, get)
        if value is not None:
            env[item["name"]] = value
    return env


def container_env(container: Obj, image_config: Obj, extra: dict[str, str],
                  pod: Obj | None = None, node: dict[str, Any] | None = None) -> dict[str, str]:
    """The image's environment, overridden by the Pod's variables (`pod_env`)."""
    env = _env_pairs(image_config.get("Env") or [])
    env.update(pod_env(container, pod, node, extra))
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
    """The capability set after securityContext.capabilities (None: the default set), in
    containerd's order: `add: [ALL]` → every capability, then `drop: [ALL]` → none, then the
    single adds, then the single drops (a capability both added and dropped is dropped)."""
    caps = sc.get("capabilities") or {}
    add = [normalize_capability(a) for a in caps.get("add") or []]
    drop = [normalize_capability(d) for d in caps.get("drop") or []]
    if not add and not drop:
        return None
    result = list(defaults)
    if "CAP_ALL" in add:
        result = list(ALL_CAPABILITIES)
    if "CAP_ALL" in drop:
        result = []
    result += [a for a in add if a != "CAP_ALL"]
    drops = set(drop)
    return tuple(dict.fromkeys(c for c in result if c not in drops))


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
    variables = pod_env(container, pod, node, extra_env)
    env = _env_pairs(image_config.get("Env") or [])
    env.update(variables)
    argv = container_args(container, image_config, variables)
    sc = {**(pod.get("spec", {}).get("securityContext") or {}),
          **(container.get("securityContext") or {})}
    user = image_config.get("User") or ""
    verify_run_as_non_root(pod, container, sc, user)
    if sc.get("runAsUser") is not None:
        group = sc.get("runAsGroup")
        user = f"{sc['runAsUser']}:{group}" if group is not None else str(sc["runAsUser"])
    elif sc.get("runAsGroup") is not None:
        user = f"{user.split(':')[0] or 0}:{sc['runAsGroup']}"
    cwd = container.get("workingDir") or image_config.get("WorkingDir") or "/"
    return ProcessSpec(argv, [f"{k}={v}" for k, v in env.items()], cwd, user)


def verify_run_as_non_root(pod: Obj, container: Obj, sc: Obj, image_user: str) -> None:
    """kubelet's verifyRunAsNonRoot: LookupError (CreateContainerConfigError) with its text
    when runAsNonRoot is set and the container would run as uid 0 or cannot be checked."""
    if not sc.get("runAsNonRoot"):
        return
    m = pod.get("metadata", {})
    where = (f'(pod: "{m.get("name", "")}_{m.get("namespace") or "default"}'
             f'({m.get("uid", "")})", container: {container.get("name", "")})')
    if sc.get("runAsUser") is not None:
        if int(sc["runAsUser"]) == 0:
            raise LookupError(f"container's runAsUser breaks non-root policy {where}")
        return
    name = image_user.split(":")[0]
    if name and not name.lstrip("-").isdigit():
        raise LookupError(f"container has runAsNonRoot and image has non-numeric user ({name}), "
                          f"cannot verify user is non-root {where}")
    if not name or int(name) == 0:
        raise LookupError(f"container has runAsNonRoot and image will run as root {where}")


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
