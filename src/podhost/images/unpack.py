"""Apply one uncompressed layer tar stream to an empty directory, in overlayfs form, safely.

OCI whiteouts become what overlayfs reads in a lower dir: `.wh.<name>` a 0:0 character device
`<name>`, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory. Everything else
(files, dirs, symlinks, hard links, devices, fifos, ownership, modes, mtimes, xattrs) is kept.

Safety: every path is walked one component at a time with openat(O_NOFOLLOW|O_DIRECTORY) and
all calls are relative to a directory fd, so no syscall ever resolves a symlink written by the
layer. Absolute names, names escaping with "..", members under a symlinked parent and hard links
to anything but an earlier member of the same layer raise LayerError naming the member.
This module must not decompress, hash, or know where layers live: it gets a tar stream and a dir.
"""

from __future__ import annotations

import base64
import errno
import os
import shutil
import stat
import tarfile
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Protocol

from podhost.images.errors import LayerError

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
CHUNK = 1 << 20
DIR_CACHE_SIZE = 256

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KEPT_XATTRS = ("user.", "security.capability", "system.posix_acl_access",
                "system.posix_acl_default")
_DEVICE_KINDS = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
                 tarfile.FIFOTYPE: stat.S_IFIFO}
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM,
                                 errno.EROFS, errno.EMFILE, errno.ENFILE})

Parts = tuple[str, ...]


class TarStream(Protocol):
    """An uncompressed tar stream, read front to back: read(n) returns at most n bytes, b"" at
    the end."""

    def read(self, n: int, /) -> bytes: ...


def member_parts(name: str) -> Parts:
    """Split a member name into path components; reject absolute and escaping names."""
    rest = name
    while rest.startswith("./"):
        rest = rest[2:]
    if rest.startswith("/"):
        raise LayerError(f"{name!r}: absolute path in layer")
    parts: list[str] = []
    for component in rest.split("/"):
        if component == "..":
            if not parts:
                raise LayerError(f"{name!r}: path escapes the layer root")
            parts.pop()
        elif component not in ("", "."):
            parts.append(component)
    return tuple(parts)


def kept_xattrs(pax_headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """The xattrs worth applying: user.*, capabilities, ACLs; never trusted.* nor *.overlay.*."""
    out = []
    for key, value in pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name, raw = key[13:], value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name, raw = urllib.parse.unquote(key[17:]), base64.b64decode(value + "==")
        else:
            continue
        if name.startswith(_KEPT_XATTRS) and not name.startswith("user.overlay."):
            out.append((name, raw))
    return out


def _mtime_ns(member: tarfile.TarInfo) -> int:
    mtime = member.mtime
    return mtime * 1_000_000_000 if isinstance(mtime, int) else round(mtime * 1e9)


def apply_layer(stream: TarStream, dest: str | os.PathLike[str]) -> int:
    """Unpack an uncompressed layer tar into the empty dir dest; return its file content bytes."""
    root_fd = os.open(dest, _DIR_FLAGS)
    unpacker = _Unpacker(root_fd)
    try:
        # Stream mode ("r|") only reads fileobj; typeshed's _Fileobj also asks for write/seek.
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
            for member in tar:
                unpacker.apply(tar, member)
        unpacker.finish()
    except tarfile.ReadError as e:
        if str(e) != "empty file":
            raise LayerError(f"corrupt layer tar: {e}") from None
    except tarfile.TarError as e:
        raise LayerError(f"corrupt layer tar: {e}") from None
    finally:
        unpacker.close()
        os.close(root_fd)
    return unpacker.size


class _Unpacker:
    """Per-layer state: cached directory fds, earlier members, deferred directory mtimes."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.dirs: OrderedDict[Parts, int] = OrderedDict()
        self.retired: list[int] = []
        self.seen: set[Parts] = set()
        self.dir_times: dict[Parts, int] = {}
        self.size = 0

    def close(self) -> None:
        for fd in [*self.dirs.values(), *self.retired]:
            os.close(fd)
        self.dirs.clear()
        self.retired.clear()

    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self._close_retired()
        parts = member_parts(member.name)
        try:
            self._apply(tar, member, parts)
        except OSError as e:
            if e.errno in _ENVIRONMENT_ERRNOS:
                raise
            raise LayerError(f"{member.name!r}: {e.strerror or e}") from None

    def _apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: Parts) -> None:
        if parts and parts[0].startswith(WHITEOUT_META_PREFIX) and parts != (OPAQUE_WHITEOUT,):
            return  # aufs bookkeeping (/.wh..wh.plnk, /.wh..wh.aufs): meaningless here
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            self._whiteout(member, parts)
        elif member.isdir():
            self._directory(member, parts)
        elif not parts:
            raise LayerError(f"{member.name!r}: the layer root must be a directory")
        elif member.isreg():
            self._file(tar, member, parts)
        elif member.issym():
            self._symlink(member, parts)
        elif member.islnk():
            self._hardlink(member, parts)
        elif member.type in _DEVICE_KINDS:
            self._device(member, parts)
        else:
            raise LayerError(f"{member.name!r}: unsupported tar entry type {member.type!r}")

    def finish(self) -> None:
        """Set directory mtimes last: creating their children changed them."""
        for parts, ns in self.dir_times.items():
            os.utime(self.dir_fd(parts, "/".join(parts)), ns=(ns, ns))
            self._close_retired()

    def _close_retired(self) -> None:
        """Close fds evicted from the cache (kept open until the member using them is done)."""
        for fd in self.retired:
            os.close(fd)
        self.retired.clear()

    # -- walking -------------------------------------------------------------------------

    def dir_fd(self, parts: Parts, member: str) -> int:
        """An fd on directory `parts`, creating missing ones (0755); never follows a symlink."""
        if not parts:
            return self.root_fd
        fd = self.dirs.get(parts)
        if fd is not None:
            self.dirs.move_to_end(parts)
            return fd
        parent = self.dir_fd(parts[:-1], member)
        fd = self._open_dir(parent, parts, member)
        self.dirs[parts] = fd
        if len(self.dirs) > DIR_CACHE_SIZE:
            self.retired.append(self.dirs.popitem(last=False)[1])
        return fd

    @staticmethod
    def _open_dir(parent: int, parts: Parts, member: str) -> int:
        name = parts[-1]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
            os.fchmod(fd, 0o755)  # an implied parent: root-owned 0755 whatever the umask
            return fd
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        raise LayerError(f"{member!r}: parent {'/'.join(parts)!r} is a symlink or not a directory")

    def _create(self, parent: int, parts: Parts, make: Callable[[], object]) -> object:
        """Run make(); if the name is taken, remove what is there (whatever type) and retry."""
        try:
            return make()
        except FileExistsError:
            self._remove(parent, parts)
            return make()

    def _remove(self, parent: int, parts: Parts) -> None:
        name = parts[-1]
        if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
        self._forget(parts)

    def _forget(self, parts: Parts) -> None:
        """Drop cached state for parts and everything below it, after it was removed."""
        def under(p: Parts) -> bool:
            return p[:len(parts)] == parts
        for p in [p for p in self.dirs if under(p)]:
            self.retired.append(self.dirs.pop(p))
        self.seen = {p for p in self.seen if not under(p)}
        self.dir_times = {p: t for p, t in self.dir_times.items() if not under(p)}

    # -- entry types ---------------------------------------------------------------------

    def _whiteout(self, member: tarfile.TarInfo, parts: Parts) -> None:
        parent = self.dir_fd(parts[:-1], member.name)
        name = parts[-1]
        if name == OPAQUE_WHITEOUT:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if name.startswith(WHITEOUT_META_PREFIX):
            return  # other aufs bookkeeping names
        hidden = parts[:-1] + (name[len(WHITEOUT_PREFIX):],)
        if hidden[-1] in ("", ".", ".."):
            raise LayerError(f"{member.name!r}: malformed whiteout")
        self._create(parent, hidden, lambda: os.mknod(hidden[-1], stat.S_IFCHR, 0, dir_fd=parent))
        os.chown(hidden[-1], member.uid, member.gid, dir_fd=parent, follow_symlinks=False)

    def _directory(self, member: tarfile.TarInfo, parts: Parts) -> None:
        if parts:
            parent = self.dir_fd(parts[:-1], member.name)
            try:
                os.mkdir(parts[-1], 0o700, dir_fd=parent)
            except FileExistsError:
                st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):  # an existing dir keeps its content
                    self._remove(parent, parts)
                    os.mkdir(parts[-1], 0o700, dir_fd=parent)
        fd = self.dir_fd(parts, member.name)
        self._set_fd_metadata(fd, member)
        self.dir_times[parts] = _mtime_ns(member)

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: Parts) -> None:
        parent = self.dir_fd(parts[:-1], member.name)
        fd = self._create(parent, parts, lambda: os.open(parts[-1], _FILE_FLAGS, 0o600,
                                                          dir_fd=parent))
        assert isinstance(fd, int)
        try:
            if member.size:
                self._copy(tar, member, fd)
            self._set_fd_metadata(fd, member)
            os.utime(fd, ns=(_mtime_ns(member),) * 2)
        finally:
            os.close(fd)
        self.seen.add(parts)
        self.size += member.size

    @staticmethod
    def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, fd: int) -> None:
        source = tar.extractfile(member)
        assert source is not None
        while chunk := source.read(CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]

    def _symlink(self, member: tarfile.TarInfo, parts: Parts) -> None:
        parent = self.dir_fd(parts[:-1], member.name)
        self._create(parent, parts, lambda: os.symlink(member.linkname, parts[-1], dir_fd=parent))
        self._set_link_metadata(parent, parts[-1], member)
        self.seen.add(parts)

    def _hardlink(self, member: tarfile.TarInfo, parts: Parts) -> None:
        try:
            target = member_parts(member.linkname)
        except LayerError as e:
            raise LayerError(f"{member.name!r}: hard link target {e}") from None
        if target not in self.seen or target == parts:
            raise LayerError(f"{member.name!r}: hard link to {member.linkname!r}, "
                             "which is not an earlier file of this layer")
        source_dir = self.dir_fd(target[:-1], member.name)
        parent = self.dir_fd(parts[:-1], member.name)
        self._create(parent, parts, lambda: os.link(
            target[-1], parts[-1], src_dir_fd=source_dir, dst_dir_fd=parent,
            follow_symlinks=False))
        self.seen.add(parts)

    def _device(self, member: tarfile.TarInfo, parts: Parts) -> None:
        parent, name = self.dir_fd(parts[:-1], member.name), parts[-1]
        kind = _DEVICE_KINDS[member.type]
        device = os.makedev(member.devmajor, member.devminor) if kind != stat.S_IFIFO else 0
        self._create(parent, parts, lambda: os.mknod(name, kind | 0o600, device, dir_fd=parent))
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(name, member.mode & 0o7777, dir_fd=parent)  # a node we just made, not a link
        self._set_xattrs(f"/proc/self/fd/{parent}/{name}", member)
        os.utime(name, ns=(_mtime_ns(member),) * 2, dir_fd=parent, follow_symlinks=False)
        self.seen.add(parts)

    # -- metadata ------------------------------------------------------------------------

    def _set_fd_metadata(self, fd: int, member: tarfile.TarInfo) -> None:
        """Owner, then mode (chown clears setuid), then xattrs (chown clears capabilities)."""
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)
        self._set_xattrs(fd, member)

    @staticmethod
    def _set_link_metadata(parent: int, name: str, member: tarfile.TarInfo) -> None:
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        os.utime(name, ns=(_mtime_ns(member),) * 2, dir_fd=parent, follow_symlinks=False)

    @staticmethod
    def _set_xattrs(target: int | str, member: tarfile.TarInfo) -> None:
        for name, value in kept_xattrs(member.pax_headers):
            try:
                if isinstance(target, int):
                    os.setxattr(target, name, value)
                else:
                    os.setxattr(target, name, value, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.EOPNOTSUPP or name == "security.capability":
                    raise
