"""mount(2)/umount2(2) through libc, and mount-table queries.

Only this module performs mounts. Callers pass plain values (source, target, fstype, flags, data),
so that the policy (which mounts, with which options) stays in pure code elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(OSError):
    """A mount or unmount failed; carries errno and the paths involved."""


def _b(value: str | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | os.PathLike[str] | None, target: str | os.PathLike[str],
          fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    """Call mount(2); raise MountError with the kernel's reason on failure."""
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"mount {source} on {target} ({fstype or 'bind'}): {os.strerror(err)}")


def bind(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
         read_only: bool = False, recursive: bool = True) -> None:
    """Bind-mount source on target; a read-only bind needs a second remount call."""
    flags = MS_BIND | (MS_REC if recursive else 0)
    mount(source, target, None, flags)
    if read_only:
        mount(None, target, None, flags | MS_REMOUNT | MS_RDONLY)


def unmount(target: str | os.PathLike[str], *, detach: bool = False) -> None:
    """Unmount target; a target that is not mounted (EINVAL) or missing (ENOENT) is fine."""
    flags = UMOUNT_NOFOLLOW | (MNT_DETACH if detach else 0)
    if _libc.umount2(_b(target), flags) != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise MountError(err, f"unmount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """Decode the octal escapes (\\040 for space…) of /proc/self/mountinfo fields."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mount_points(under: str | os.PathLike[str] | None = None) -> list[Path]:
    """Mount points from /proc/self/mountinfo, optionally only those at or below `under`."""
    prefix = os.path.realpath(under) if under is not None else None
    points: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = _unescape(line.split(" ", 5)[4])
            if prefix is None or point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                points.append(Path(point))
    return points


def is_mount_point(path: str | os.PathLike[str]) -> bool:
    """True when path is the target of a mount (compares with the mount table, not st_dev)."""
    real = os.path.realpath(path)
    return any(str(p) == real for p in mount_points(real))


def unmount_all(under: str | os.PathLike[str]) -> None:
    """Unmount every mount at or below `under`, deepest first (lazy as a last resort)."""
    for point in sorted(mount_points(under), key=lambda p: len(p.parts), reverse=True):
        try:
            unmount(point)
        except MountError as e:
            if e.errno != errno.EBUSY:
                raise
            unmount(point, detach=True)
