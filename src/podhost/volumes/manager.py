"""The kubelet's volume manager for one Pod: set up what a container mounts, tear all down.

The node calls `container_mounts()` before creating each container (set-up is idempotent, so a
restart keeps the contents) and `tear_down_pod()` when the Pod is terminal or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podhost.volumes import emptydir
from podhost.volumes.emptydir import VolumeSetupError

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A host path to bind at container_path (what kubelet hands the CRI as a Mount)."""

    host_path: str
    container_path: str
    read_only: bool = False
    propagation: str = "private"  # private | rslave (HostToContainer) | rshared (Bidirectional)


def _size_limit(source: Obj) -> int | None:
    from podhost.api import quantity
    size = source.get("sizeLimit")
    return quantity.parse_bytes(str(size)) if size not in (None, "") else None


def set_up_volume(pod_dir: Path, pod: Obj, volume: Obj) -> Path:
    source = volume.get("emptyDir")
    if source is None:
        raise VolumeSetupError(f"volume {volume['name']} has an unsupported source")
    return emptydir.set_up(pod_dir, volume["name"], source.get("medium") or "",
                           _size_limit(source))


def container_path(mount_path: str) -> str:
    """kubelet makes a relative mountPath absolute: filepath.Clean("/" + path)."""
    import posixpath
    return posixpath.normpath("/" + mount_path) if not mount_path.startswith("/") else mount_path


def container_mounts(pod_dir: Path, pod: Obj, container: Obj,
                     env: dict[str, str]) -> list[VolumeMount]:
    """Set up the volumes this container mounts and return the binds, in volumeMounts order."""
    volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes") or []}
    result: list[VolumeMount] = []
    for vm in container.get("volumeMounts") or []:
        host = set_up_volume(pod_dir, pod, volumes[vm["name"]])
        if vm.get("subPath") or vm.get("subPathExpr"):
            raise VolumeSetupError("subPath is not supported by podhost yet")
        propagation = {"HostToContainer": "rslave", "Bidirectional": "rshared"}.get(
            vm.get("mountPropagation") or "None", "private")
        result.append(VolumeMount(str(host), container_path(vm["mountPath"]),
                                  bool(vm.get("readOnly")), propagation))
    return result


def tear_down_pod(pod_dir: Path) -> None:
    """Tear down every volume of the Pod (the medium is detected, not taken from the spec)."""
    emptydir.tear_down_all(pod_dir)
