"""hostPath as kubelet's plugin checks it (pkg/volume/hostpath): the `type` checks, creation for
the *OrCreate types, and kubelet's messages. The host directory is bound as is."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from podhost.volumes.emptydir import VolumeSetupError

_IS = {"Directory": (stat.S_ISDIR, "a directory"), "File": (stat.S_ISREG, "a file"),
       "Socket": (stat.S_ISSOCK, "a socket file"),
       "CharDevice": (stat.S_ISCHR, "a character device"),
       "BlockDevice": (stat.S_ISBLK, "a block device")}
TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
         "BlockDevice")


def _mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None


def check_type(path: str, kind: str) -> None:
    """checkTypeInternal: create what *OrCreate asks for, then check the file type."""
    if kind not in TYPES:
        raise VolumeSetupError(f"hostPath type check failed: unknown type {kind}")
    if not kind:
        return
    base = kind.removesuffix("OrCreate")
    if kind == "DirectoryOrCreate" and _mode(path) is None:
        os.makedirs(path, 0o755, exist_ok=True)
    elif kind == "FileOrCreate" and _mode(path) is None:
        os.close(os.open(path, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o644))
    test, what = _IS[base]
    mode = _mode(path)
    if mode is None or not test(mode):
        raise VolumeSetupError(f"hostPath type check failed: {path} is not {what}")


def set_up(name: str, source: dict[str, Any]) -> Path:
    path = source.get("path") or ""
    try:
        check_type(path, source.get("type") or "")
    except OSError as e:
        raise VolumeSetupError(f"hostPath type check failed: {path}: {e.strerror}") from None
    except VolumeSetupError as e:
        raise VolumeSetupError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from None
    return Path(path)
