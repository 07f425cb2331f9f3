"""Image volumes (`volumes[].image`, Kubernetes 1.31+, KEP-4639): an OCI image's root
filesystem mounted read-only for the Pod's containers.

The node pulls the image (its pull policy and events, as for a container image) and hands this
module the image's layer directories, top-most first. The volume is
`<pod dir>/volumes/kubernetes.io~image/<name>`: an overlay of those layers with no upper
directory (so it cannot be written at all), or a read-only bind of the one layer of a one-layer
image, mounted `ro,nosuid,nodev` (not `noexec`: the image's programs may run, as with CRI-O).
Files keep their owners and modes. Set-up is idempotent (the Pod's containers share the one
mount); `<name>.image` beside it records the image it shows, for the node's in-use list.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from podhost.host import mount as mounts
from podhost.volumes.emptydir import VolumeSetupError

PLUGIN = "kubernetes.io~image"
MAX_OPTIONS = 3500  # mount(2) copies one page of option data
_FLAGS = mounts.MS_RDONLY | mounts.MS_NOSUID | mounts.MS_NODEV
_FORBIDDEN = (",", ":", "\\", "\n")


def volume_path(pod_dir: Path, name: str) -> Path:
    return pod_dir / "volumes" / PLUGIN / name


def overlay_data(lower_dirs: Sequence[str]) -> str:
    """Mount data for a read-only overlay (no upperdir: overlayfs needs two lower dirs then)."""
    for d in lower_dirs:
        if not d or any(c in d for c in _FORBIDDEN):
            raise VolumeSetupError(f"layer path {d!r} is empty or contains , : \\ or newline")
    return "lowerdir=" + ":".join(lower_dirs)


def set_up(pod_dir: Path, name: str, layer_dirs: Sequence[str | os.PathLike[str]],
           image_id: str = "") -> Path:
    """Mount the image's layers (top-most first) read-only at the volume's path."""
    target = volume_path(pod_dir, name)
    if target.is_dir() and mounts.is_mount_point(target):
        return target
    target.mkdir(parents=True, exist_ok=True)
    lowers = [os.fspath(d) for d in layer_dirs]
    try:
        if not lowers:  # an image with no layers: an empty directory, read-only
            lowers = [os.fspath(_empty(target))]
        if len(lowers) == 1:
            mounts.mount(lowers[0], target, None, mounts.MS_BIND)
            mounts.mount(None, target, None, mounts.MS_BIND | mounts.MS_REMOUNT | _FLAGS)
        else:
            with _short(lowers) as short:
                mounts.mount("overlay", target, "overlay", _FLAGS, overlay_data(short))
    except OSError as e:
        mounts.unmount(target, detach=True)
        raise VolumeSetupError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from None
    if image_id:
        (target.parent / f"{name}.image").write_text(image_id)
    return target


def image_ids(pod_dir: Path) -> set[str]:
    """The images the Pod's image volumes show (as recorded at set-up)."""
    base = pod_dir / "volumes" / PLUGIN
    out = set()
    with contextlib.suppress(FileNotFoundError):
        for entry in base.glob("*.image"):
            with contextlib.suppress(OSError):
                out.add(entry.read_text().strip())
    return out - {""}


def tear_down_all(pod_dir: Path) -> None:
    """Unmount and remove every image volume of the Pod."""
    base = pod_dir / "volumes" / PLUGIN
    if not base.is_dir():
        return
    for entry in base.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            mounts.unmount_all(entry)
            if mounts.is_mount_point(entry):
                raise VolumeSetupError(f"{entry} is still mounted")
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(entry)  # never rmtree: only an empty mount point is left here
        else:
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        base.rmdir()


def _empty(target: Path) -> Path:
    empty = target.parent / f".{target.name}.empty"
    empty.mkdir(exist_ok=True)
    return empty


@contextlib.contextmanager
def _short(dirs: list[str]) -> Iterator[list[str]]:
    """The dirs as given, or as /proc/self/fd/N when they would not fit in one page."""
    if len(overlay_data(dirs)) <= MAX_OPTIONS:
        yield dirs
        return
    fds: list[int] = []
    try:
        for d in dirs:
            fds.append(os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)
