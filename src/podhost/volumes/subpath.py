"""subPath and subPathExpr, safe against symlink escapes and swap races (CVE-2017-1002101,
CVE-2021-25741), as kubelet's makeMounts + pkg/volume/util/subpath do it.

The subPath is resolved inside the volume, then walked component by component with
openat(O_PATH|O_NOFOLLOW); the last descriptor is bind-mounted (through /proc/self/fd/N, which the
kernel resolves to the very inode opened) onto `<pod dir>/volume-subpaths/<vol>/<ctr>/<index>`.
The runtime is handed that target, which nothing in the container can change.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from podhost.host import mount as mounts
from podhost.volumes.emptydir import VolumeSetupError

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_VAR = re.compile(r"\$\(([^)]*)\)")


# -- pure rules -------------------------------------------------------------------------------
def expand(expr: str, env: Mapping[str, str]) -> str:
    """ExpandContainerVolumeMounts: `$(VAR)` from the container env; `$$` is a literal `$`.
    A missing or empty variable is an error: `missing value for A, B`."""
    missing: set[str] = set()
    out, i = [], 0
    while i < len(expr):
        if expr.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        m = _VAR.match(expr, i)
        if m:
            value = env.get(m.group(1), "")
            if not value:
                missing.add(m.group(1))
            out.append(value)
            i = m.end()
            continue
        out.append(expr[i])
        i += 1
    if missing:
        raise VolumeSetupError(f"missing value for {', '.join(sorted(missing))}")
    return "".join(out)


def check(sub_path: str) -> None:
    """The checks makeMounts repeats at run time (after expansion)."""
    if sub_path.startswith("/"):
        raise VolumeSetupError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise VolumeSetupError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")


def within(path: str, base: str) -> bool:
    """mount.PathWithinBase on cleaned absolute paths."""
    rel = posixpath.relpath(path, base)
    return rel == "." or not (rel == ".." or rel.startswith("../"))


def target_path(pod_dir: Path, volume: str, container: str, index: int) -> Path:
    return pod_dir / "volume-subpaths" / volume / container / str(index)


# -- opening inside the volume ------------------------------------------------------------------
def _parts(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p not in ("", ".")]


def _open_beneath(base: str, rel: str, stack: ExitStack) -> int:
    """doSafeOpen: open base, then each component with O_NOFOLLOW; refuse any symlink."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    stack.callback(os.close, fd)
    for part in _parts(rel):
        fd = os.open(part, _O_PATH, dir_fd=fd)
        stack.callback(os.close, fd)
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise OSError(f"unexpected symlink found {posixpath.join(base, rel)}")
    return fd


def safe_make_dir(base: str, sub_path: str, perm: int) -> None:
    """doSafeMakeDir: create the missing tail of sub_path below the existing (checked) prefix,
    each new directory with `perm` (the volume root's mode, incl. setgid and sticky)."""
    parts = _parts(sub_path)
    n = len(parts)
    while n > 0 and not os.path.lexists(posixpath.join(base, *parts[:n])):
        n -= 1
    existing = os.path.realpath(posixpath.join(base, *parts[:n]))
    if not within(existing, base):
        raise OSError(f"path {existing} is outside of allowed base {base}")
    with ExitStack() as stack:
        fd = _open_beneath(base, posixpath.relpath(existing, base), stack)
        for part in parts[n:]:
            os.mkdir(part, 0o700, dir_fd=fd)
            fd = os.open(part, _O_PATH, dir_fd=fd)
            stack.callback(os.close, fd)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(f"{part} is not a directory")
            os.chmod(f"/proc/self/fd/{fd}", perm)


def _prepare_target(target: Path, is_dir: bool) -> None:
    if mounts.is_mount_point(target):
        mounts.unmount(target)
    if target.exists() and target.is_dir() != is_dir:
        target.rmdir() if target.is_dir() else target.unlink()
    target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    if is_dir:
        target.mkdir(mode=0o750, exist_ok=True)
    elif not target.exists():
        target.touch(mode=0o640)


def bind_safe(volume_path: str, sub_path: str, target: Path) -> Path:
    """PrepareSafeSubpath: resolve, check it stays in the volume, open safely, bind the fd."""
    base = os.path.realpath(volume_path)
    resolved = os.path.realpath(posixpath.join(base, sub_path))
    if not within(resolved, base):
        raise OSError(f"subpath {resolved!r} not within volume path {base!r}")
    with ExitStack() as stack:
        fd = _open_beneath(base, posixpath.relpath(resolved, base), stack)
        _prepare_target(target, stat.S_ISDIR(os.fstat(fd).st_mode))
        mounts.mount(f"/proc/self/fd/{fd}", target, None, mounts.MS_BIND)
    return target


def prepare(pod_dir: Path, volume_path: Path, volume: str, container: str, index: int,
            sub_path: str) -> Path:
    """makeMounts' subPath step: checks, create a missing directory, bind; kubelet's messages."""
    check(sub_path)
    host = posixpath.join(str(volume_path), sub_path)
    if not os.path.exists(host):
        try:
            safe_make_dir(os.path.realpath(volume_path), sub_path,
                          stat.S_IMODE(os.stat(volume_path).st_mode))
        except OSError:
            raise VolumeSetupError(f'failed to create subPath directory for volumeMount '
                                   f'"{volume}" of container "{container}"') from None
    try:
        return bind_safe(str(volume_path), sub_path,
                         target_path(pod_dir, volume, container, index))
    except OSError:
        raise VolumeSetupError(f'failed to prepare subPath for volumeMount "{volume}" of '
                               f'container "{container}"') from None


def clean_up(pod_dir: Path) -> None:
    """doCleanSubPaths for the whole Pod: unmount every bind, remove the tree."""
    root = pod_dir / "volume-subpaths"
    if root.exists():
        mounts.unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
