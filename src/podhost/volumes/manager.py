"""The kubelet's volume manager for one Pod: set up what a container mounts, tear all down.

The node calls `container_mounts()` before creating each container (set-up is idempotent, so a
restart keeps the contents) and `tear_down_pod()` when the Pod is terminal or deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podhost.api.serviceaccount import TokenProvider
from podhost.api.types import Obj
from podhost.volumes import claims, emptydir, hostpath, image, projection, sizing, subpath
from podhost.volumes.emptydir import VolumeSetupError

# image volumes the node has pulled: volume name -> (layer dirs top-most first, image ID)
ImageVolumes = Mapping[str, tuple[Sequence[Path], str]]
# told how long a volume's set-up took: (volume, seconds, succeeded)
Observer = Callable[[Obj, float, bool], None]


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A host path to bind at container_path (what kubelet hands the CRI as a Mount)."""

    host_path: str
    container_path: str
    read_only: bool = False
    propagation: str = "private"  # private | rslave (HostToContainer) | rshared (Bidirectional)
    options: tuple[str, ...] = ()  # more bind options ("nosuid", "nodev" for image volumes)


def _size_limit(source: Obj) -> int | None:
    from podhost.api import quantity
    size = source.get("sizeLimit")
    return quantity.parse_bytes(str(size)) if size not in (None, "") else None


def _meminfo() -> dict[str, int]:
    with open("/proc/meminfo", encoding="ascii") as f:
        return sizing.parse_meminfo(f.read())


def fs_group(pod: Obj) -> int | None:
    value = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return int(value) if value is not None else None


def hugepage_size(pod: Obj, medium: str, host_pages: int) -> str:
    """The hugetlbfs pagesize for a HugePages medium, or kubelet's error (pure)."""
    if host_pages <= 0:
        raise VolumeSetupError(f"medium {medium}: hugePages storage requested, but the node has "
                               "no huge pages (HugePages_Total is 0 in /proc/meminfo)")
    sizes = sizing.hugepage_sizes(pod)
    if medium != "HugePages":
        wanted = medium.removeprefix("HugePages-")
        if wanted not in sizes:
            raise VolumeSetupError(f"medium {medium}: hugePages storage requested, but there is "
                                   "no resource request for huge pages")
        return wanted
    if not sizes:
        raise VolumeSetupError(f"medium {medium}: hugePages storage requested, but there is no "
                               "resource request for huge pages")
    if len(sizes) > 1:
        raise VolumeSetupError(f"medium: {medium} can't be used if container requests multiple "
                               "huge page sizes")
    return sizes[0]


def set_up_empty_dir(pod_dir: Path, pod: Obj, name: str, source: Obj) -> Path:
    medium = source.get("medium") or ""
    size, page = None, None
    if medium == "Memory":
        size = sizing.tmpfs_size(_meminfo()["MemTotal"], sizing.pod_memory_limit(pod),
                                 _size_limit(source))
    elif emptydir.is_hugepages(medium):
        page = hugepage_size(pod, medium, _meminfo().get("HugePages_Total", 0))
    return emptydir.set_up(pod_dir, name, medium, size, fs_group(pod), page)


def set_up_volume(pod_dir: Path, pod: Obj, volume: Obj, store: Any = None,
                  images: ImageVolumes | None = None, tokens: TokenProvider | None = None
                  ) -> Path:
    if volume.get("image") is not None:
        pulled = (images or {}).get(volume["name"])
        if pulled is None:
            raise VolumeSetupError(f'MountVolume.SetUp failed for volume "{volume["name"]}" : '
                                   "the image was not pulled")
        return image.set_up(pod_dir, volume["name"], pulled[0], pulled[1])
    if projection.source_of(volume) is not None:
        size = sizing.tmpfs_size(_meminfo()["MemTotal"], sizing.pod_memory_limit(pod), None)
        try:
            return projection.set_up(pod_dir, pod, volume, store, size, fs_group(pod), tokens)
        except VolumeSetupError as e:
            raise VolumeSetupError(
                f'MountVolume.SetUp failed for volume "{volume["name"]}" : {e}') from None
    if volume.get("hostPath") is not None:
        return hostpath.set_up(volume["name"], volume["hostPath"])
    if claims.is_claim(volume):
        return claims.set_up(pod_dir, pod, volume, store)
    source = volume.get("emptyDir")
    if source is None:
        raise VolumeSetupError(f"volume {volume['name']} has an unsupported source")
    return set_up_empty_dir(pod_dir, pod, volume["name"], source)


def container_path(mount_path: str) -> str:
    """kubelet makes a relative mountPath absolute: filepath.Clean("/" + path)."""
    import posixpath
    return posixpath.normpath("/" + mount_path) if not mount_path.startswith("/") else mount_path


def _sub_path(vm: Obj, env: dict[str, str]) -> str:
    if vm.get("subPathExpr"):
        return subpath.expand(vm["subPathExpr"], env)
    return vm.get("subPath") or ""


def container_mounts(pod_dir: Path, pod: Obj, container: Obj, env: dict[str, str],
                     store: Any = None, images: ImageVolumes | None = None,
                     tokens: TokenProvider | None = None,
                     observe: Observer | None = None) -> list[VolumeMount]:
    """Set up the volumes this container mounts and return the binds, in volumeMounts order;
    `observe(volume, seconds, ok)` is told how long each set-up took.

    Errors are VolumeSetupError with kubelet's text (the container's CreateContainerConfigError).
    """
    volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes") or []}
    result: list[VolumeMount] = []
    for index, vm in enumerate(container.get("volumeMounts") or []):
        volume = volumes[vm["name"]]
        started = time.monotonic()
        try:
            host = set_up_volume(pod_dir, pod, volume, store, images, tokens)
        except Exception:
            if observe is not None:
                observe(volume, time.monotonic() - started, False)
            raise
        if observe is not None:
            observe(volume, time.monotonic() - started, True)
        sub = _sub_path(vm, env)
        if sub:
            host = subpath.prepare(pod_dir, host, vm["name"], container["name"], index, sub)
        propagation = {"HostToContainer": "rslave", "Bidirectional": "rshared"}.get(
            vm.get("mountPropagation") or "None", "private")
        is_image = volume.get("image") is not None
        read_only = bool(vm.get("readOnly")) or is_image or \
            projection.source_of(volume) is not None or \
            (claims.is_claim(volume) and claims.read_only(pod, volume, store))  # RO, as kubelet
        result.append(VolumeMount(str(host), container_path(vm["mountPath"]), read_only,
                                  propagation, ("nosuid", "nodev") if is_image else ()))
    return result


def tear_down_pod(pod_dir: Path) -> None:
    """Tear down every volume of the Pod (the medium is detected, not taken from the spec)."""
    subpath.clean_up(pod_dir)
    claims.tear_down_all(pod_dir)  # first: the Pod directory is removed after this
    image.tear_down_all(pod_dir)
    projection.tear_down_all(pod_dir)
    emptydir.tear_down_all(pod_dir)


def image_volume_ids(pod_dir: Path) -> set[str]:
    """The images the Pod's mounted image volumes show."""
    return image.image_ids(pod_dir)


def refresh(pod_dir: Path, pod: Obj, store: Any, tokens: TokenProvider | None = None
            ) -> list[str]:
    """Bring configMap/secret/downwardAPI/projected volumes of a running Pod up to date (the
    node calls this periodically); returns the names of the volumes that changed."""
    return projection.refresh(pod_dir, pod, store, tokens)
