"""Turn an unpacked layer (overlayfs form) back into a gzipped OCI layer blob, for `push`.

The store keeps layers unpacked, not their original tarballs, so a push writes each layer anew:
a deterministic PAX tar (paths sorted, owners by number, whole-second mtimes) in which what
`unpack` made for overlayfs becomes OCI whiteouts again: a 0:0 character device `<name>` is
`.wh.<name>`, the `trusted.overlay.opaque=y` xattr on a directory is `<dir>/.wh..wh..opq`.
Hard links, symlinks, devices, fifos, modes and the xattrs `unpack` keeps are written as found.
The digests of the tar (the diff ID) and of the gzip stream (the blob) are computed on the way.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from podhost.images.unpack import OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX

CHUNK = 1 << 20
_KEPT_XATTRS = ("user.", "security.capability", "system.posix_acl_access",
                "system.posix_acl_default")


@dataclass(frozen=True)
class LayerBlobFile:
    """A gzipped layer written to `path`: its blob digest and size, and its diff ID."""

    path: Path
    digest: str
    size: int
    diff_id: str


class _Hashing:
    """A write-only file object that hashes and counts what passes through to `out`."""

    def __init__(self, out: IO[bytes] | None) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _xattrs(path: str) -> dict[str, str]:
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    for name in sorted(names):
        if name.startswith(_KEPT_XATTRS) and not name.startswith("user.overlay."):
            try:
                value = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
            out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _entries(root: str) -> list[str]:
    """Every path below root, relative, parents before children, siblings sorted."""
    out: list[str] = []

    def walk(rel: str) -> None:
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            names = sorted(e.name for e in it)
        for name in names:
            child = f"{rel}/{name}" if rel else name
            out.append(child)
            if stat.S_ISDIR(os.lstat(os.path.join(root, child)).st_mode):
                walk(child)

    walk("")
    return out


def _info(tar: tarfile.TarFile, path: str, name: str) -> tarfile.TarInfo | None:
    info = tar.gettarinfo(path, arcname=name)
    if info is None:  # a socket: not in layers
        return None
    info.mtime = int(info.mtime)
    info.uname = info.gname = ""
    xattrs = _xattrs(path)
    if xattrs:
        info.pax_headers = xattrs
    return info


def _empty(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.mode, info.mtime = st.st_uid, st.st_gid, 0o600, int(st.st_mtime)
    return info


def write_layer_tar(diff_dir: str | os.PathLike[str], out: IO[bytes]) -> None:
    """Write the layer at diff_dir as an OCI layer tar (uncompressed) to out."""
    root = os.fspath(diff_dir)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _entries(root):
            path = os.path.join(root, rel)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # a whiteout
                head, _, tail = rel.rpartition("/")
                tar.addfile(_empty(f"{head}/{WHITEOUT_PREFIX}{tail}" if head
                                   else WHITEOUT_PREFIX + tail, st))
                continue
            info = _info(tar, path, rel)
            if info is None:
                continue
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(path):
                tar.addfile(_empty(f"{rel}/{OPAQUE_WHITEOUT}", st))


def export_layer(diff_dir: str | os.PathLike[str], dest: Path) -> LayerBlobFile:
    """Write diff_dir as a gzipped layer blob to dest; return its digests and size."""
    with open(dest, "wb") as f:
        blob = _Hashing(f)
        with gzip.GzipFile(fileobj=blob, mode="wb", mtime=0, compresslevel=6) as gz:
            diff = _Hashing(gz)  # type: ignore[arg-type]
            write_layer_tar(diff_dir, diff)  # type: ignore[arg-type]
    return LayerBlobFile(dest, blob.digest, blob.size, diff.digest)
