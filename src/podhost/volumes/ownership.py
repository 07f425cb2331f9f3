"""fsGroup ownership as kubelet's VolumeOwnership applies it (pkg/volume/volume_linux.go).

Every entry gets gid G (lchown); non-symlinks get mode |= 0660 (0440 when read-only), and
directories also setgid and 0110. The walk is depth-first with the root last, and it does not
cross into other mounts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

RW_MASK, RO_MASK, EXEC_MASK = 0o660, 0o440, 0o110


def new_mode(mode: int, readonly: bool = False) -> int:
    """The permission bits changeFilePermission sets for an entry of `mode` (pure)."""
    mask = RO_MASK if readonly else RW_MASK
    if stat.S_ISDIR(mode):
        mask |= stat.S_ISGID | EXEC_MASK
    return stat.S_IMODE(mode) | mask


def _change(path: str, gid: int, readonly: bool) -> None:
    os.lchown(path, -1, gid)
    st = os.lstat(path)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, new_mode(st.st_mode, readonly))


def apply_fs_group(root: Path, gid: int, readonly: bool = False) -> None:
    """Give everything under root (root last) the group gid and group rw(x) access."""
    top_dev = os.lstat(root).st_dev
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            _change(os.path.join(dirpath, name), gid, readonly)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full) and os.lstat(full).st_dev == top_dev:
                _change(full, gid, readonly)
    _change(str(root), gid, readonly)
