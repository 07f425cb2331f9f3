"""is_mount_point on real mounts (root): tmpfs, bind mounts of directories and files of the
same filesystem (same st_dev as their parent), namespace files, symlinks and unmounting."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.host import mount as mounts

pytestmark = pytest.mark.integration


def answers(path: Path | str) -> tuple[bool, bool, bool]:
    """is_mount_point, statx's answer and the mount table's, for the same path."""
    real = os.path.realpath(path)
    return mounts.is_mount_point(path), bool(mounts._statx_mount_root(real)), \
        mounts._in_mount_table(real)


@pytest.fixture()
def base(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "with space"
    root.mkdir()
    try:
        yield root
    finally:
        with contextlib.suppress(mounts.MountError):
            mounts.unmount_all(root)


def test_mounts_of_every_kind(base: Path) -> None:
    if mounts._statx_mount_root("/") is None:
        pytest.skip("statx cannot tell mount roots here (Linux < 5.8): the table answers")
    (base / "tmpfs").mkdir()
    mounts.mount("tmpfs", base / "tmpfs", "tmpfs", 0, "size=1m")
    (base / "src" / "sub").mkdir(parents=True)
    (base / "src" / "file").write_text("x")
    (base / "dir-bind").mkdir()
    mounts.bind(base / "src", base / "dir-bind")
    (base / "sub-bind").mkdir()
    mounts.bind(base / "src" / "sub", base / "sub-bind", read_only=True)
    (base / "file-bind").write_text("")
    mounts.bind(base / "src" / "file", base / "file-bind")
    (base / "netns").write_text("")
    mounts.bind("/proc/self/ns/net", base / "netns")  # what sandbox.py does with namespaces
    (base / "link").symlink_to(base / "dir-bind")
    (base / "plain").mkdir()
    assert os.stat(base / "dir-bind").st_dev == os.stat(base).st_dev  # st_dev cannot tell

    yes = ["tmpfs", "dir-bind", "sub-bind", "file-bind", "netns", "link"]
    no = ["plain", "src", "src/sub", "src/file", "dir-bind/sub", "dir-bind/file", "missing",
          "tmpfs/missing", "."]
    for name in yes:
        assert answers(base / name) == (True, True, True), name
    for name in no:
        assert answers(base / name) == (False, False, False), name

    for name in ("tmpfs", "dir-bind", "sub-bind", "file-bind", "netns"):
        mounts.unmount(base / name)
        assert answers(base / name) == (False, False, False), name


def test_stacked_mounts_stay_mount_points_until_the_last_unmount(base: Path) -> None:
    target = base / "t"
    target.mkdir()
    mounts.mount("tmpfs", target, "tmpfs", 0, "size=1m")
    mounts.mount("tmpfs", target, "tmpfs", 0, "size=1m")
    assert mounts.is_mount_point(target)
    mounts.unmount(target)
    assert mounts.is_mount_point(target)
    mounts.unmount(target)
    assert not mounts.is_mount_point(target)


def test_self_bind_of_a_directory(base: Path) -> None:
    target = base / "self"
    target.mkdir()
    assert not mounts.is_mount_point(target)
    mounts.bind(target, target)
    assert answers(target) == (True, True, True)
