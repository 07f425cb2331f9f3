"""apply_layer: overlayfs form (whiteouts, opaque dirs) and refusal of unsafe members.

Needs root (mknod, chown, trusted.* xattrs), which is how podhost runs.
"""

from __future__ import annotations

import gc
import io
import os
import stat
import struct
import tarfile
from pathlib import Path

import pytest

from podhost.images.errors import LayerError
from podhost.images.unpack import apply_layer, kept_xattrs, member_parts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root")

MTIME = 1_600_000_000


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", *, mode: int = 0o644,
          link: str = "", uid: int = 0, gid: int = 0, mtime: int = MTIME,
          pax: dict[str, str] | None = None, dev: tuple[int, int] = (0, 0),
          ) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.uid, info.gid, info.mtime = uid, gid, mtime
    info.devmajor, info.devminor = dev
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = pax or {}
    return info, data


def d(name: str, **kw: object) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.DIRTYPE, mode=kw.pop("mode", 0o755), **kw)  # type: ignore[arg-type]


def f(name: str, data: bytes = b"x", **kw: object) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.REGTYPE, data, **kw)  # type: ignore[arg-type]


def sym(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.SYMTYPE, link=target, mode=0o777)


def hard(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.LNKTYPE, link=target)


def layer(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    buf.seek(0)
    return buf


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(dest, outside): a layer dir and a sibling that nothing may ever write to."""
    dest, outside = tmp_path / "layer", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("keep")
    return dest, outside


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- what is kept ---------------------------------------------------------------------------

def test_files_dirs_modes_owners_and_times(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    size = apply_layer(layer(
        d("./"), d("bin", mode=0o750, uid=5, gid=6, mtime=MTIME + 5),
        f("bin/su", b"#!su", mode=0o4755), f("./bin/data", b"d" * 3_000_000, uid=1000, gid=100),
        d("tmp", mode=0o1777), f("deep/implied/file", b"z")), dest)
    assert size == 4 + 3_000_000 + 1
    st = (dest / "bin").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 5, 6)
    assert st.st_mtime == MTIME + 5  # set after its children were created
    assert stat.S_IMODE((dest / "bin/su").stat().st_mode) == 0o4755
    data = (dest / "bin/data").stat()
    assert (data.st_uid, data.st_gid, data.st_size, data.st_mtime) == (1000, 100, 3_000_000, MTIME)
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((dest / "deep/implied").stat().st_mode) == 0o755
    assert (dest / "deep/implied/file").read_bytes() == b"z"


def test_symlinks_kept_verbatim_never_followed(dirs: tuple[Path, Path]) -> None:
    dest, outside = dirs
    apply_layer(layer(sym("etc-link", "/etc"), sym("abs", str(outside / "secret")),
                      sym("rel", "../outside/secret"), sym("dangling", "nowhere")), dest)
    assert os.readlink(dest / "etc-link") == "/etc"
    assert os.readlink(dest / "abs") == str(outside / "secret")
    assert os.readlink(dest / "rel") == "../outside/secret"
    assert (dest / "dangling").is_symlink()
    assert (outside / "secret").read_text() == "keep"
    assert os.lstat(dest / "abs").st_mtime == MTIME


def test_hard_links(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    apply_layer(layer(d("a"), f("a/file", b"same"), hard("b/link", "a/file"),
                      hard("./c", "./a/file")), dest)
    inode = (dest / "a/file").stat().st_ino
    assert (dest / "b/link").stat().st_ino == inode
    assert (dest / "c").stat().st_nlink == 3


def test_devices_fifos_and_xattrs(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    cap = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)  # cap_net_bind_service+ep
    apply_layer(layer(
        entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        entry("dev/loop9", tarfile.BLKTYPE, mode=0o660, dev=(7, 9)),
        entry("run/fifo", tarfile.FIFOTYPE, mode=0o600),
        f("bin/ping", pax={"SCHILY.xattr.security.capability":
                           cap.decode("utf-8", "surrogateescape"),
                           "SCHILY.xattr.user.note": "hello",
                           "SCHILY.xattr.trusted.overlay.opaque": "y",
                           "SCHILY.xattr.security.selinux": "system_u:object_r:bin_t"}),
        d("etc", pax={"SCHILY.xattr.trusted.overlay.redirect": "/elsewhere"})), dest)
    null = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode)
    assert (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK((dest / "dev/loop9").lstat().st_mode)
    assert stat.S_ISFIFO((dest / "run/fifo").lstat().st_mode)
    ping = dest / "bin/ping"
    assert os.getxattr(ping, "security.capability") == cap
    assert os.getxattr(ping, "user.note") == b"hello"
    assert set(os.listxattr(ping)) == {"security.capability", "user.note"}
    assert os.listxattr(dest / "etc") == []


def test_kept_xattrs_filter() -> None:
    pax = {"SCHILY.xattr.user.a": "1", "SCHILY.xattr.trusted.overlay.opaque": "y",
           "SCHILY.xattr.user.overlay.redirect": "/x",
           "SCHILY.xattr.security.ima": "x", "LIBARCHIVE.xattr.user.b%20c": "MQ==",
           "mtime": "1.5"}
    assert kept_xattrs(pax) == [("user.a", b"1"), ("user.b c", b"1")]


# -- overlayfs form -------------------------------------------------------------------------

def test_whiteouts_become_char_devices(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    apply_layer(layer(d("etc"), f("etc/.wh.motd"), f(".wh.opt"), f("a/b/.wh.c")), dest)
    for path in ("etc/motd", "opt", "a/b/c"):
        st = (dest / path).lstat()
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, path
    assert not any(".wh." in p for p in tree(dest))


def test_opaque_directory(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    apply_layer(layer(d("var"), d("var/lib"), f("var/lib/.wh..wh..opq"), f("var/lib/new", b"n"),
                      f("x/.wh..wh..opq"), f(".wh..wh.plnk/123")), dest)
    assert os.getxattr(dest / "var/lib", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(dest / "x", "trusted.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(dest / "var")
    assert tree(dest) == {"var", "var/lib", "var/lib/new", "x"}


def test_directory_listed_after_its_files_keeps_them(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    apply_layer(layer(f("usr/bin/a", b"a"), f("usr/bin/b", b"b"), d("usr/bin", mode=0o700),
                      d("usr", mode=0o711)), dest)
    assert sorted(os.listdir(dest / "usr/bin")) == ["a", "b"]
    assert stat.S_IMODE((dest / "usr/bin").stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / "usr").stat().st_mode) == 0o711


def test_later_entry_of_another_type_replaces_earlier(dirs: tuple[Path, Path]) -> None:
    dest, outside = dirs
    apply_layer(layer(
        f("a", b"file"), d("a"), f("a/inside"),          # file -> dir
        d("b"), f("b/x"), sym("b", str(outside)),         # dir (with content) -> symlink
        sym("c", "/etc"), f("c", b"now a file"),          # symlink -> file (not followed)
        f("e", b"old"), hard("h", "e"), f("e", b"new"),   # file replaced; link keeps old inode
    ), dest)
    assert (dest / "a").is_dir() and (dest / "a/inside").is_file()
    assert os.readlink(dest / "b") == str(outside)
    assert (dest / "c").read_bytes() == b"now a file" and not (dest / "c").is_symlink()
    assert (dest / "e").read_bytes() == b"new" and (dest / "h").read_bytes() == b"old"
    assert sorted(os.listdir(outside)) == ["secret"]


def test_path_normalisation() -> None:
    assert member_parts("./a/b/") == ("a", "b")
    assert member_parts("a/./b//c") == ("a", "b", "c")
    assert member_parts("a/../b") == ("b",)
    assert member_parts("./") == ()
    assert member_parts(".") == ()


def test_empty_layers(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    assert apply_layer(io.BytesIO(b""), dest) == 0
    assert apply_layer(layer(), dest) == 0
    assert os.listdir(dest) == []


def test_many_directories_exercise_the_fd_cache(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    members = [m for i in range(600) for m in (d(f"d{i}", mtime=MTIME + i),
                                                 f(f"d{i}/f", str(i).encode()))]
    members += [f(f"d{i}/g", b"g") for i in range(0, 600, 7)]
    gc.collect()  # files other tests left to the collector must not close during the count
    open_fds = len(os.listdir("/proc/self/fd"))
    apply_layer(layer(*members), dest)
    assert len(os.listdir("/proc/self/fd")) == open_fds  # no fd leaked
    assert (dest / "d599/f").read_bytes() == b"599"
    assert (dest / "d595/g").read_bytes() == b"g"
    assert len(os.listdir(dest)) == 600
    assert (dest / "d0").stat().st_mtime == MTIME and (dest / "d595").stat().st_mtime == MTIME + 595


# -- what is refused ------------------------------------------------------------------------

@pytest.mark.parametrize(("members", "offender"), [
    ([f("../evil")], "../evil"),
    ([f("./../evil")], "./../evil"),
    ([d("a"), f("a/../../evil")], "a/../../evil"),
    ([f("/etc/evil")], "/etc/evil"),
    ([f("//evil")], "//evil"),
    ([sym("a", "/"), f("a/etc/podhost-layer-test")], "a/etc/podhost-layer-test"),
    ([sym("a", "OUTSIDE"), f("a/evil")], "a/evil"),
    ([sym("a", "../outside"), f("a/evil")], "a/evil"),
    ([sym("a", "OUTSIDE"), d("a/sub")], "a/sub"),
    ([sym("a", "OUTSIDE"), sym("a/evil", "x")], "a/evil"),
    ([sym("a", "OUTSIDE"), f("a/.wh.secret")], "a/.wh.secret"),
    ([sym("a", "OUTSIDE"), f("a/.wh..wh..opq")], "a/.wh..wh..opq"),
    ([d("x"), sym("x/y", ".."), sym("x/y/z", "q"), f("x/y/z/evil")], "x/y/z"),
    ([hard("passwd", "/etc/passwd")], "passwd"),
    ([hard("secret", "../outside/secret")], "secret"),
    ([sym("a", "OUTSIDE"), hard("link", "a/secret")], "link"),
    ([hard("early", "later"), f("later")], "early"),
    ([f("f"), f("f/child")], "f/child"),
    ([f(".wh.")], ".wh."),
    ([f("x", b"abc"), hard("x", "x")], "x"),
])
def test_unsafe_members_are_rejected(dirs: tuple[Path, Path],
                                     members: list[tuple[tarfile.TarInfo, bytes]],
                                     offender: str) -> None:
    dest, outside = dirs
    for info, _ in members:
        info.linkname = info.linkname.replace("OUTSIDE", str(outside))
    before_outside = tree(outside)
    before_etc = set(os.listdir("/etc"))
    with pytest.raises(LayerError) as info:
        apply_layer(layer(*members), dest)
    assert repr(offender) in str(info.value)
    assert tree(outside) == before_outside
    assert (outside / "secret").read_text() == "keep"
    assert set(os.listdir("/etc")) == before_etc
    assert not os.path.lexists(dest.parent / "evil")


def test_symlink_to_root_then_write_through_it(dirs: tuple[Path, Path]) -> None:
    """The classic: `a -> /` then `a/etc/x`; nothing may appear under /etc."""
    dest, _ = dirs
    with pytest.raises(LayerError, match="symlink"):
        apply_layer(layer(sym("a", "/"), d("a/etc"), f("a/etc/podhost-escape")), dest)
    assert not os.path.lexists("/etc/podhost-escape")
    assert os.readlink(dest / "a") == "/"


def test_corrupt_and_unknown_entries(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs
    data = layer(f("big", b"x" * 100_000)).getvalue()
    with pytest.raises(LayerError, match="corrupt"):
        apply_layer(io.BytesIO(data[:20_000]), dest)
    with pytest.raises(LayerError, match="corrupt"):
        apply_layer(io.BytesIO(b"\x01" * 4096), dest)
    with pytest.raises(LayerError, match="unsupported tar entry type"):
        apply_layer(layer(entry("odd", b"Z")), dest)
