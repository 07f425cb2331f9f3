"""emptyDir as kubelet's plugin makes it: `<pod dir>/volumes/kubernetes.io~empty-dir/<name>`.

Set-up is idempotent (a ready marker under `plugins/`), so container restarts and node restarts
keep the contents. Tear-down detects tmpfs from the mount table, not from the spec, so it still
works after a restart of the node.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from podhost.host import mount as mounts
from podhost.volumes import ownership

PLUGIN = "kubernetes.io~empty-dir"
DEFAULT_PERM = 0o777
MEMORY_PERM = 0o1777  # the kernel's default for a tmpfs root; kubelet passes no mode=
TMPFS_MAGIC = 0x01021994
HUGETLBFS_MAGIC = 0x958458F6
_noswap: list[bool] = []  # cached once per process, like swap.IsTmpfsNoswapOptionSupported


class VolumeSetupError(Exception):
    """A volume could not be set up; the message is kubelet's."""


def volume_path(pod_dir: Path, name: str) -> Path:
    return pod_dir / "volumes" / PLUGIN / name


def ready_path(pod_dir: Path, name: str) -> Path:
    return pod_dir / "plugins" / PLUGIN / name / "ready"


def make_pod_dirs(pod_dir: Path) -> None:
    """makePodDataDirs: the pod, volumes and plugins directories, mode 0750."""
    for d in (pod_dir, pod_dir / "volumes", pod_dir / "plugins"):
        d.mkdir(mode=0o750, parents=True, exist_ok=True)


def _set_ready(pod_dir: Path, name: str) -> None:
    ready = ready_path(pod_dir, name)
    ready.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    ready.touch(mode=0o600)


def _setup_dir(path: Path, perm: int) -> None:
    path.mkdir(mode=perm, parents=True, exist_ok=True)
    if (path.lstat().st_mode & 0o7777) != perm:
        os.chmod(path, perm)


def _mount_tmpfs(path: Path, options: list[str]) -> None:
    flags = 0  # kubelet mounts tmpfs with no flags (suid and dev allowed, as there)
    if not _noswap or _noswap[0]:
        try:
            mounts.mount("tmpfs", path, "tmpfs", flags, ",".join([*options, "noswap"]))
            _noswap[:] = [True]
            return
        except mounts.MountError as e:
            if e.errno != errno.EINVAL:
                raise
            _noswap[:] = [False]
    mounts.mount("tmpfs", path, "tmpfs", flags, ",".join(options) or None)


def _setup_tmpfs(path: Path, size_bytes: int | None) -> None:
    _setup_dir(path, DEFAULT_PERM)
    if mounts.is_mount_point(path):
        return
    _mount_tmpfs(path, [f"size={size_bytes}"] if size_bytes else [])


def _setup_hugepages(path: Path, page_size: str | None) -> None:
    _setup_dir(path, DEFAULT_PERM)
    if mounts.is_mount_point(path):
        return
    mounts.mount("nodev", path, "hugetlbfs", 0, f"pagesize={page_size}" if page_size else None)


def is_hugepages(medium: str) -> bool:
    return medium == "HugePages" or medium.startswith("HugePages-")


def set_up(pod_dir: Path, name: str, medium: str = "", size_bytes: int | None = None,
           fs_group: int | None = None, page_size: str | None = None) -> Path:
    """SetUpAt: create (or keep) the volume; returns its host path.

    A ready volume is kept as is (contents survive container and node restarts); a fresh one
    gets fsGroup ownership. `size_bytes` is the tmpfs size for medium Memory.
    """
    path = volume_path(pod_dir, name)
    if ready_path(pod_dir, name).exists():
        if medium != "" and mounts.is_mount_point(path):
            return path
        if medium == "" and path.is_dir():
            return path
        shutil.rmtree(ready_path(pod_dir, name).parent, ignore_errors=True)
    if medium == "":
        _setup_dir(path, DEFAULT_PERM)
    elif medium == "Memory":
        _setup_tmpfs(path, size_bytes)
    elif is_hugepages(medium):
        _setup_hugepages(path, page_size)
    else:
        raise VolumeSetupError(f'unknown storage medium "{medium}"')
    if fs_group is not None:
        ownership.apply_fs_group(path, fs_group)
    _set_ready(pod_dir, name)
    return path


def tear_down(pod_dir: Path, name: str) -> None:
    """TearDownAt: remove the ready marker, unmount a tmpfs if mounted, remove the directory."""
    shutil.rmtree(ready_path(pod_dir, name).parent, ignore_errors=True)
    path = volume_path(pod_dir, name)
    if not path.exists():
        return
    if mounts.is_mount_point(path):
        mounts.unmount_all(path)
    shutil.rmtree(path, ignore_errors=False)


def tear_down_all(pod_dir: Path) -> None:
    base = pod_dir / "volumes" / PLUGIN
    if base.is_dir():
        for entry in base.iterdir():
            tear_down(pod_dir, entry.name)
