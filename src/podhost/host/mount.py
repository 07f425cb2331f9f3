"""mount(2)/umount2(2) through libc, and mount-table queries.

Only this module performs mounts. Callers pass plain values (source, target, fstype, flags, data),
so that the policy (which mounts, with which options) stays in pure code elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
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
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# statx(2) (glibc ≥ 2.28): since Linux 5.8 it says whether a path is the root of a mount
AT_FDCWD = -100
AT_NO_AUTOMOUNT = 0x800
STATX_ATTR_MOUNT_ROOT = 0x2000
_STATX_SIZE = 256  # struct statx
_STATX_ATTRIBUTES = 8  # offsetof(struct statx, stx_attributes), a __u64
_STATX_ATTRIBUTES_MASK = 56  # offsetof(struct statx, stx_attributes_mask), a __u64
_statx = getattr(_libc, "statx", None)
if _statx is not None:
    _statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                       ctypes.c_void_p]
    _statx.restype = ctypes.c_int


class MountError(OSError):
    """A mount or unmount failed; carries errno and the paths involved."""


def _b(value: str | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | os.PathLike[str] | None, target: str | os.PathLike[str],
          fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    """Call mount(2); raise MountError with the kernel's reason on failure."""
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        err = ctypes.get_errno()
        raise MountError(
            err, f"mount {source} on {target} ({fstype or 'bind'}): {os.strerror(err)}")


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


def propagation_of(path: str | os.PathLike[str]) -> tuple[str, set[str]]:
    """The mount point holding `path` and its propagation tags (`shared`, `master`) from
    /proc/self/mountinfo's optional fields."""
    real = os.path.realpath(path)
    best, tags = "/", set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ")
            point = _unescape(fields[4])
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                optional = fields[6:fields.index("-")]
                best, tags = point, {o.split(":", 1)[0] for o in optional}
    return best, tags


def _statx_mount_root(real: str) -> bool | None:
    """statx's STATX_ATTR_MOUNT_ROOT for an absolute path without symlinks; None when statx
    cannot tell (no statx, a kernel before 5.8, an error other than a missing path)."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if _statx(AT_FDCWD, os.fsencode(real), AT_NO_AUTOMOUNT, 0, buf) != 0:
        err = ctypes.get_errno()
        return False if err in (errno.ENOENT, errno.ENOTDIR) else None
    supported = struct.unpack_from("=Q", buf, _STATX_ATTRIBUTES_MASK)[0]
    if not supported & STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(struct.unpack_from("=Q", buf, _STATX_ATTRIBUTES)[0] & STATX_ATTR_MOUNT_ROOT)


def _in_mount_table(real: str) -> bool:
    return any(str(p) == real for p in mount_points(real))


def is_mount_point(path: str | os.PathLike[str]) -> bool:
    """True when path is the target of a mount (the kernel's answer, not an st_dev comparison:
    bind mounts of files and directories of the same filesystem count).

    statx(2) tells whether the path is the root of its mount, without reading the whole
    /proc/self/mountinfo (which made tearing down many Pods quadratic); the mount table is the
    fallback where statx cannot tell.
    """
    real = os.path.realpath(path)
    found = _statx_mount_root(real)
    return _in_mount_table(real) if found is None else found


def unmount_all(under: str | os.PathLike[str]) -> None:
    """Unmount every mount at or below `under`, deepest first (lazy as a last resort)."""
    for point in sorted(mount_points(under), key=lambda p: len(p.parts), reverse=True):
        try:
            unmount(point)
        except MountError as e:
            if e.errno != errno.EBUSY:
                raise
            unmount(point, detach=True)
