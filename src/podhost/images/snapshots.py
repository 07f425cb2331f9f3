"""Container root filesystems: an overlay snapshot of image layers plus a private upper dir.

`overlay_options` is pure (containerd's snapshot `mounts()` idea: the layer dirs become
`lowerdir=top:...:bottom`, the container gets its own `upperdir` and `workdir`).
`prepare_rootfs` / `remove_rootfs` create, mount, unmount and delete
`<container_dir>/{upper,work,rootfs}`; both are idempotent. Mounting goes through
`podhost.host.mount`; this module must not know about images, tags or the store layout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from podhost.host.mount import is_mount_point, mount, unmount_all
from podhost.images.errors import SnapshotError

# mount(2) copies at most one page of option data; keep clear of it.
MAX_OPTIONS = 3500
_FORBIDDEN = (",", ":", "\\", "\n")


def overlay_options(lower_dirs: Sequence[str | os.PathLike[str]],
                    upper: str | os.PathLike[str], work: str | os.PathLike[str]) -> str:
    """The overlay mount data for lower dirs (top-most first) and a writable upper/work pair."""
    if not lower_dirs:
        raise SnapshotError("overlay needs at least one lower directory")
    paths = [os.fspath(p) for p in (*lower_dirs, upper, work)]
    for path in paths:
        if not path or any(c in path for c in _FORBIDDEN):
            raise SnapshotError(f"overlay path {path!r} is empty or contains , : \\ or newline")
    lower = ":".join(paths[:-2])
    return f"lowerdir={lower},upperdir={paths[-2]},workdir={paths[-1]}"


def rootfs_paths(container_dir: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """(upper, work, rootfs) for a container directory."""
    base = Path(container_dir)
    return base / "upper", base / "work", base / "rootfs"


def prepare_rootfs(container_dir: str | os.PathLike[str],
                   layer_dirs: Sequence[str | os.PathLike[str]]) -> Path:
    """Mount the layers (top-most first) read-only under a fresh upper dir at container_dir/rootfs.

    Returns the rootfs path; if it is already mounted, returns it untouched.
    """
    upper, work, rootfs = rootfs_paths(container_dir)
    for d in (upper, work, rootfs):
        d.mkdir(parents=True, exist_ok=True)
    if is_mount_point(rootfs):
        return rootfs
    lowers = list(layer_dirs) or [_empty_lower(Path(container_dir))]
    options = overlay_options(lowers, upper, work)
    if len(options) <= MAX_OPTIONS:
        mount("overlay", rootfs, "overlay", 0, options)
        return rootfs
    with _short_paths(lowers) as short:  # many layers: /proc/self/fd/N is ~17 bytes a layer
        options = overlay_options(short, upper, work)
        if len(options) > MAX_OPTIONS:
            raise SnapshotError(f"too many layers ({len(lowers)}) for one overlay mount")
        mount("overlay", rootfs, "overlay", 0, options)
    return rootfs


def remove_rootfs(container_dir: str | os.PathLike[str]) -> None:
    """Unmount container_dir/rootfs and delete upper, work and rootfs; fine if already gone."""
    upper, work, rootfs = rootfs_paths(container_dir)
    if rootfs.exists():
        unmount_all(rootfs)
        if is_mount_point(rootfs):
            raise SnapshotError(f"{rootfs} is still mounted")
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(rootfs)  # never rmtree: an empty mount point is all that may be here
    for d in (upper, work, Path(container_dir) / "lower-empty"):
        _rmtree(d)


def _empty_lower(container_dir: Path) -> Path:
    """An image with no layers still needs one (empty) lower dir."""
    empty = container_dir / "lower-empty"
    empty.mkdir(exist_ok=True)
    return empty


@contextlib.contextmanager
def _short_paths(dirs: Sequence[str | os.PathLike[str]]) -> Iterator[list[str]]:
    """/proc/self/fd/N aliases of dirs, valid inside the block (the kernel resolves them)."""
    fds: list[int] = []
    try:
        for d in dirs:
            fds.append(os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)


def _rmtree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
