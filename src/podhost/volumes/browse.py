"""Reading and writing a Pod's volume from the node, for `podhost volume ls|cat|cp` (the node
serves them through the API server, as kubelet serves its endpoints through the node proxy).

Every path is resolved inside the volume with no way out, as subPaths are (volumes/subpath.py):
`..` and absolute paths are refused before anything is opened, and each component is opened with
openat(O_NOFOLLOW) from the volume's root, so a symlink (absolute or relative) anywhere on the
way is refused, and a symlink swapped in between the check and the open is refused too (the
open itself does not follow it). Entries that are symlinks are listed, never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Generator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from podhost.api.types import Obj
from podhost.volumes import claims, emptydir, image, projection

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
# volume types a container can only read (kubelet mounts them read-only)
READ_ONLY = ("configMap", "secret", "downwardAPI", "projected", "image")


class BrowseError(Exception):
    """A request the volume cannot serve; `kind` is "invalid", "not-found" or "forbidden"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    type: str  # file, directory, symlink, other
    size: int
    mode: str  # octal permission bits, e.g. "0644"
    mtime: float
    target: str = ""  # a symlink's target (never followed)

    def to_dict(self) -> Obj:
        out: Obj = {"name": self.name, "type": self.type, "size": self.size, "mode": self.mode,
                    "mtime": self.mtime}
        if self.target:
            out["target"] = self.target
        return out


def components(path: str, volume: str) -> list[str]:
    """The path's components inside the volume; `..` is refused (absolute paths are taken as
    relative to the volume's root, as `VOLUME/PATH` reads)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BrowseError("invalid", f'path "{path}" is outside the volume "{volume}": ".." is '
                                     "not allowed")
    if any("\x00" in p for p in parts):
        raise BrowseError("invalid", f'path "{path}" is not a valid path')
    return parts


def host_path(pod_dir: Path, pod: Obj, volume: Obj, store: object = None) -> Path:
    """Where the node keeps the volume (nothing is set up but a claim's path looked up)."""
    name = volume.get("name", "")
    if volume.get("hostPath") is not None:
        return Path(str(volume["hostPath"].get("path") or "/"))
    if volume.get("image") is not None:
        return image.volume_path(pod_dir, name)
    if projection.source_of(volume) is not None:
        return projection.volume_path(pod_dir, volume)
    if claims.is_claim(volume):
        return claims.set_up(pod_dir, pod, volume, store)
    return emptydir.volume_path(pod_dir, name)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    return "symlink" if stat.S_ISLNK(mode) else "other"


def _entry(name: str, st: os.stat_result, target: str = "") -> Entry:
    return Entry(name, _kind(st.st_mode), st.st_size, f"{stat.S_IMODE(st.st_mode):04o}",
                 st.st_mtime, target)


def _walk(root: Path, parts: list[str], stack: ExitStack, path: str) -> int:
    """An O_PATH descriptor of root/parts, opened component by component without following
    any symlink."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise BrowseError("not-found", "the volume is not set up on the node (is the Pod "
                                       "running?)") from None
    stack.callback(os.close, fd)
    for i, part in enumerate(parts):
        try:
            fd = os.open(part, _O_PATH, dir_fd=fd)
        except FileNotFoundError:
            raise BrowseError("not-found", f'"{path}": no such file or directory') from None
        except NotADirectoryError:
            raise BrowseError("not-found", f'"{path}": not a directory') from None
        stack.callback(os.close, fd)
        if stat.S_ISLNK(os.fstat(fd).st_mode) and i < len(parts) - 1:
            raise BrowseError("forbidden", f'"{path}" goes through the symbolic link '
                                           f'"{"/".join(parts[:i + 1])}": links inside a '
                                           "volume are not followed")
    return fd


def list_path(root: Path, path: str, volume: str) -> tuple[str, list[Entry]]:
    """The path's type and the entries of a directory (sorted), or the one entry of a file or
    symlink."""
    parts = components(path, volume)
    with ExitStack() as stack:
        fd = _walk(root, parts, stack, path)
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            target = os.readlink("", dir_fd=fd) if stat.S_ISLNK(st.st_mode) else ""
            return _kind(st.st_mode), [_entry(parts[-1] if parts else ".", st, target)]
        dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        stack.callback(os.close, dfd)
        out = []
        for name in sorted(os.listdir(dfd)):
            try:
                est = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                target = os.readlink(name, dir_fd=dfd) if stat.S_ISLNK(est.st_mode) else ""
            except OSError:
                continue
            out.append(_entry(name, est, target))
        return "directory", out


def read_file(root: Path, path: str, volume: str) -> Generator[bytes, None, None]:
    """A regular file's content, in chunks (opened before the first chunk is asked for)."""
    parts = components(path, volume)
    if not parts:
        raise BrowseError("invalid", f'"{path}" is a directory')
    with ExitStack() as stack:
        fd = _walk(root, parts, stack, path)
        _check_regular(os.fstat(fd).st_mode, path)
        # the magic link resolves to the very inode checked above (no path lookup again)
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    return _chunks(rfd)


def _chunks(fd: int) -> Generator[bytes, None, None]:
    try:
        while chunk := os.read(fd, CHUNK):
            yield chunk
    finally:
        os.close(fd)


def _parent(root: Path, parts: list[str], stack: ExitStack, path: str, mode: int) -> int:
    """A directory descriptor of the parent of parts (missing directories made, with mode)."""
    fd = _walk(root, [], stack, path)
    for part in parts[:-1]:
        try:
            os.mkdir(part, mode, dir_fd=fd)
        except FileExistsError:
            pass
        fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK |
                     os.O_CLOEXEC, dir_fd=fd)
        stack.callback(os.close, fd)
    return fd


def _writable(parent: int, name: str, path: str, offset: int, mode: int, tries: int = 3
              ) -> int:
    """A write descriptor of the regular file `name` in parent: an existing entry's type is
    checked on an O_PATH descriptor first (a FIFO, a device, a socket or a symlink is refused
    without ever being opened for writing), then the very inode checked is reopened through its
    magic link with O_NONBLOCK; a missing file is made with O_EXCL (no symlink followed)."""
    try:
        pfd = os.open(name, _O_PATH, dir_fd=parent)
    except FileNotFoundError:
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                           os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=parent)
        except FileExistsError:  # made between the two opens: look again
            if tries <= 1:
                raise BrowseError("invalid", f'"{path}" keeps changing') from None
            return _writable(parent, name, path, offset, mode, tries - 1)
    try:
        _check_regular(os.fstat(pfd).st_mode, path)
        return os.open(f"/proc/self/fd/{pfd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC |
                       (os.O_TRUNC if offset == 0 else 0))
    finally:
        os.close(pfd)


def _check_regular(mode: int, path: str) -> None:
    if stat.S_ISLNK(mode):
        raise BrowseError("forbidden", f'"{path}" is a symbolic link: links inside a '
                                       "volume are not followed")
    if stat.S_ISDIR(mode):
        raise BrowseError("invalid", f'"{path}" is a directory')
    if not stat.S_ISREG(mode):
        raise BrowseError("invalid", f'"{path}" is not a regular file')


def write_file(root: Path, path: str, volume: str, data: bytes, offset: int = 0,
               mode: int = 0o644) -> None:
    """Write data at offset (0 truncates) into a regular file, making missing parents."""
    parts = components(path, volume)
    if not parts:
        raise BrowseError("invalid", f'"{path}" is a directory')
    try:
        with ExitStack() as stack:
            parent = _parent(root, parts, stack, path, 0o755)
            fd = _writable(parent, parts[-1], path, offset, mode)
            stack.callback(os.close, fd)
            os.pwrite(fd, data, offset)
    except (NotADirectoryError, IsADirectoryError) as e:
        raise BrowseError("invalid", f'"{path}": {e.strerror}') from None
    except OSError as e:
        if e.errno == errno.ELOOP:  # a parent swapped for a symlink
            raise BrowseError("forbidden", f'"{path}" goes through a symbolic link: links '
                                           "inside a volume are not followed") from None
        raise


def make_dir(root: Path, path: str, volume: str, mode: int = 0o755) -> None:
    parts = components(path, volume)
    if not parts:
        return
    try:
        with ExitStack() as stack:
            parent = _parent(root, parts, stack, path, mode)
            try:
                os.mkdir(parts[-1], mode, dir_fd=parent)
            except FileExistsError:
                st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise BrowseError("invalid", f'"{path}" exists and is not a directory'
                                      ) from None
    except OSError as e:
        raise BrowseError("invalid", f'"{path}": {e.strerror}') from None
