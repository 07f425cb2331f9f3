"""emptyDir as kubelet's plugin makes it: `<pod dir>/volumes/kubernetes.io~empty-dir/<name>`.

Set-up is idempotent (a ready marker under `plugins/`), so container restarts and node restarts
keep the contents. Tear-down detects tmpfs from the mount table, not from the spec, so it still
works after a restart of the node.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from podhost.host import mount as mounts

PLUGIN = "kubernetes.io~empty-dir"
DEFAULT_PERM = 0o777
MEMORY_PERM = 0o1777
TMPFS_MAGIC = 0x01021994


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


def _setup_tmpfs(path: Path, size_bytes: int | None) -> None:
    _setup_dir(path, DEFAULT_PERM)
    if mounts.is_mount_point(path):
        return
    options = f"mode={MEMORY_PERM:o}" + (f",size={size_bytes}" if size_bytes else "")
    mounts.mount("tmpfs", path, "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV, options)


def set_up(pod_dir: Path, name: str, medium: str = "", size_bytes: int | None = None) -> Path:
    """SetUpAt: create (or keep) the volume; returns its host path."""
    path = volume_path(pod_dir, name)
    if ready_path(pod_dir, name).exists():
        if medium == "Memory" and mounts.is_mount_point(path):
            return path
        if medium == "" and path.is_dir():
            return path
        shutil.rmtree(ready_path(pod_dir, name).parent, ignore_errors=True)
    if medium == "":
        _setup_dir(path, DEFAULT_PERM)
    elif medium == "Memory":
        _setup_tmpfs(path, size_bytes)
    else:
        raise VolumeSetupError(f'unknown storage medium "{medium}"')
    _set_ready(pod_dir, name)
    return path


def tear_down(pod_dir: Path, name: str) -> None:
    """TearDownAt: remove the ready marker, unmount a tmpfs if mounted, remove the directory."""
    shutil.rmtree(ready_path(pod_dir, name).parent, ignore_errors=True)
    path = volume_path(pod_dir, name)
    if not path.exists():
        return
    if mounts.is_mount_point(path):
        mounts.unmount(path)
    shutil.rmtree(path, ignore_errors=False)


def tear_down_all(pod_dir: Path) -> None:
    base = pod_dir / "volumes" / PLUGIN
    if base.is_dir():
        for entry in base.iterdir():
            tear_down(pod_dir, entry.name)
