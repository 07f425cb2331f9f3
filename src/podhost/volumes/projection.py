"""configMap, secret, downwardAPI and projected volumes: a payload (pure) shown by the atomic
writer in `<pod dir>/volumes/kubernetes.io~<plugin>/<name>`. Secrets and projections (which may hold
Secrets and ServiceAccount tokens) live on a tmpfs, as the kubelet's memory-backed wrapper puts
them. `refresh` re-renders the payloads of a running Pod so
updates of ConfigMaps, Secrets and labels reach it (subPath mounts keep their file, as on kubelet).
"""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podhost.api import quantity
from podhost.api.serviceaccount import TokenProvider
from podhost.api.types import Obj
from podhost.host import mount as mounts
from podhost.volumes import atomic, ownership
from podhost.volumes.emptydir import VolumeSetupError

Getter = Callable[[str, str], Obj | None]  # (resource, name) → object or None when not found
PLUGINS = {"configMap": "kubernetes.io~configmap", "secret": "kubernetes.io~secret",
           "downwardAPI": "kubernetes.io~downward-api", "projected": "kubernetes.io~projected"}
DEFAULT_MODE = 0o644
_INDEXED = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


# -- payloads (pure) --------------------------------------------------------------------------
def _items(data: dict[str, bytes], items: list[Obj] | None, mode: int, kind: str,
           optional: bool) -> atomic.Payload:
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    out: atomic.Payload = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            what = "configmap references non-existent config key" if kind == "configmap" \
                else "references non-existent secret key"
            raise VolumeSetupError(f"{what}: {item['key']}")
        out[item["path"]] = (data[item["key"]], item.get("mode", mode))
    return out


def config_map_data(cm: Obj) -> dict[str, bytes]:
    data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return data


def secret_data(secret: Obj) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    data.update({k: v.encode() for k, v in (secret.get("stringData") or {}).items()})
    return data


def _object_payload(source: Obj, kind: str, get: Getter, mode: int) -> atomic.Payload:
    resource = "configmaps" if kind == "configmap" else "secrets"
    name = source.get("name") or source.get("secretName") or ""
    optional = bool(source.get("optional"))
    obj = get(resource, name)
    if obj is None:
        if optional:
            return {}
        raise VolumeSetupError(f'{kind} "{name}" not found')
    data = config_map_data(obj) if kind == "configmap" else secret_data(obj)
    return _items(data, source.get("items"), mode, kind, optional)


def format_map(values: dict[str, str]) -> str:
    """fieldpath.FormatMap: sorted `key="value"` lines (Go %q quoting)."""
    import json
    return "\n".join(f"{k}={json.dumps(values[k], ensure_ascii=False)}" for k in sorted(values))


def field_value(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    m = _INDEXED.match(path)
    if m:
        value: str = (meta.get(m.group(1)) or {}).get(m.group(2), "")
        return value
    simple = {"metadata.name": meta.get("name", ""),
              "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", "")}
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(path.split(".")[1]) or {})
    raise VolumeSetupError(f"unsupported fieldPath: {path}")


def resource_value(pod: Obj, ref: Obj, node_memory: int, node_cpus: int) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c["name"] == ref.get("containerName")),
                     containers[0] if containers else {})
    kind, _, name = ref["resource"].partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is not None:
        amount = quantity.parse(str(value))
    else:
        amount = node_memory if name == "memory" else node_cpus
    divisor = quantity.parse(str(ref.get("divisor") or "1"))
    return str(math.ceil(amount / divisor))


def _downward_payload(source: Obj, pod: Obj, mode: int, node: tuple[int, int]) -> atomic.Payload:
    out: atomic.Payload = {}
    for item in source.get("items") or []:
        if item.get("fieldRef"):
            text = field_value(pod, item["fieldRef"]["fieldPath"])
        else:
            text = resource_value(pod, item["resourceFieldRef"], *node)
        out[item["path"]] = (text.encode(), item.get("mode", mode))
    return out


def _token_payload(source: Obj, pod: Obj, mode: int, tokens: TokenProvider | None
                   ) -> atomic.Payload:
    """A serviceAccountToken projection: the Pod's bound token, from the token provider."""
    if tokens is None:
        raise VolumeSetupError("serviceAccountToken projection needs the node's token provider")
    try:
        token = tokens.pod_token(pod, str(source.get("audience") or ""),
                                 int(source.get("expirationSeconds") or 3607))
    except LookupError as e:
        raise VolumeSetupError(f"failed to fetch token: {e}") from None
    return {source.get("path") or "token": (token.encode(), mode)}


def payload(volume: Obj, pod: Obj, get: Getter, node: tuple[int, int],
            tokens: TokenProvider | None = None) -> atomic.Payload:
    """The files a configMap/secret/downwardAPI/projected volume shows (pure given `get` and
    `tokens`)."""
    for key, kind in (("configMap", "configmap"), ("secret", "secret")):
        if volume.get(key) is not None:
            src = volume[key]
            return _object_payload(src, kind, get, src.get("defaultMode", DEFAULT_MODE))
    if volume.get("downwardAPI") is not None:
        src = volume["downwardAPI"]
        return _downward_payload(src, pod, src.get("defaultMode", DEFAULT_MODE), node)
    src = volume["projected"]
    mode = src.get("defaultMode", DEFAULT_MODE)
    out: atomic.Payload = {}
    for source in src.get("sources") or []:
        if source.get("configMap") is not None:
            out.update(_object_payload(source["configMap"], "configmap", get, mode))
        elif source.get("secret") is not None:
            out.update(_object_payload(source["secret"], "secret", get, mode))
        elif source.get("downwardAPI") is not None:
            out.update(_downward_payload(source["downwardAPI"], pod, mode, node))
        elif source.get("serviceAccountToken") is not None:
            out.update(_token_payload(source["serviceAccountToken"], pod, mode, tokens))
        else:
            raise VolumeSetupError("projected source is not supported by podhost: "
                                   f"{', '.join(source)}")
    return out


# -- on the host ----------------------------------------------------------------------------
def source_of(volume: Obj) -> str | None:
    return next((k for k in PLUGINS if volume.get(k) is not None), None)


def volume_path(pod_dir: Path, volume: Obj) -> Path:
    name: str = volume["name"]
    return pod_dir / "volumes" / PLUGINS[source_of(volume) or ""] / name


def store_getter(store: Any, namespace: str) -> Getter:
    from podhost.api import errors

    def get(resource: str, name: str) -> Obj | None:
        if store is None:
            return None
        try:
            found: Obj | None = store.get(resource, namespace, name)
        except errors.NotFoundError:
            return None
        return found
    return get


def _node() -> tuple[int, int]:
    with open("/proc/meminfo", encoding="ascii") as f:
        total = int(f.readline().split()[1]) * 1024
    return total, os.cpu_count() or 1


def set_up(pod_dir: Path, pod: Obj, volume: Obj, store: Any, tmpfs_size: int | None = None,
           fs_group: int | None = None, tokens: TokenProvider | None = None) -> Path:
    """SetUpAt: the wrapper directory (a tmpfs for secrets), then the payload; idempotent."""
    path = volume_path(pod_dir, volume)
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    files = payload(volume, pod, store_getter(store, namespace), _node(), tokens)
    path.mkdir(mode=0o777, parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    if source_of(volume) in ("secret", "projected") and not mounts.is_mount_point(path):
        mounts.mount("tmpfs", path, "tmpfs", 0, f"size={tmpfs_size}" if tmpfs_size else None)
    if atomic.write(path, files) and fs_group is not None:
        ownership.apply_fs_group(path, fs_group, readonly=True)
    return path


def refresh(pod_dir: Path, pod: Obj, store: Any, tokens: TokenProvider | None = None
            ) -> list[str]:
    """Re-render every set-up projected volume of a running Pod; names of those that changed."""
    changed = []
    group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if source_of(volume) is None or not (volume_path(pod_dir, volume) / atomic.DATA).exists():
            continue
        try:
            namespace = (pod.get("metadata") or {}).get("namespace", "default")
            files = payload(volume, pod, store_getter(store, namespace), _node(), tokens)
        except VolumeSetupError:
            continue  # kubelet keeps the last good contents
        path = volume_path(pod_dir, volume)
        if atomic.write(path, files):
            changed.append(volume["name"])
            if group is not None:
                ownership.apply_fs_group(path, int(group), readonly=True)
    return changed


def tear_down_all(pod_dir: Path) -> None:
    for plugin in PLUGINS.values():
        base = pod_dir / "volumes" / plugin
        if base.is_dir():
            mounts.unmount_all(base)
            shutil.rmtree(base, ignore_errors=True)
