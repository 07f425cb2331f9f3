"""is_mount_point without mounting anything: statx's answer, and the mount-table fallback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from podhost.host import mount as mounts

PATHS = ["/", "/proc", "/proc/", "/proc/self", "/etc", "/nonexistent/x", "/etc/hostname/x"]


def test_mount_roots_and_other_paths(tmp_path: Path) -> None:
    (tmp_path / "to-proc").symlink_to("/proc")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    assert mounts.is_mount_point("/") and mounts.is_mount_point("/proc")
    assert mounts.is_mount_point(tmp_path / "to-proc")  # symlinks are followed, as before
    assert mounts.is_mount_point(Path("/proc/../proc"))
    for path in (tmp_path, tmp_path / "dangling", tmp_path / "missing", "/proc/self/status"):
        assert not mounts.is_mount_point(path), path


def test_statx_agrees_with_the_mount_table(tmp_path: Path) -> None:
    if mounts._statx_mount_root("/") is None:
        pytest.skip("statx cannot tell mount roots here (Linux < 5.8)")
    for path in [*PATHS, str(tmp_path), str(tmp_path / "missing")]:
        real = os.path.realpath(path)
        assert mounts._statx_mount_root(real) == mounts._in_mount_table(real), path


def test_falls_back_to_the_mount_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    expected = {p: mounts.is_mount_point(p) for p in [*PATHS, str(tmp_path)]}
    table_reads: list[str] = []
    real_table = mounts._in_mount_table

    def table(real: str) -> bool:
        table_reads.append(real)
        return real_table(real)

    monkeypatch.setattr(mounts, "_in_mount_table", table)
    monkeypatch.setattr(mounts, "_statx", None)  # a libc without statx
    assert {p: mounts.is_mount_point(p) for p in expected} == expected
    assert len(table_reads) == len(expected)

    def no_mount_root(dirfd: int, path: bytes, flags: int, mask: int, buf: object) -> int:
        return 0  # a kernel before 5.8: stx_attributes_mask lacks STATX_ATTR_MOUNT_ROOT

    monkeypatch.setattr(mounts, "_statx", no_mount_root)
    assert {p: mounts.is_mount_point(p) for p in expected} == expected
    assert len(table_reads) == 2 * len(expected)


def test_statx_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(code: int):  # type: ignore[no-untyped-def]
        def statx(*_: object) -> int:
            mounts.ctypes.set_errno(code)
            return -1
        return statx

    for code, answer in ((errno.ENOENT, False), (errno.ENOTDIR, False), (errno.EACCES, None),
                         (errno.ENOSYS, None), (errno.ESTALE, None)):
        monkeypatch.setattr(mounts, "_statx", failing(code))
        assert mounts._statx_mount_root("/proc") is answer, code
    monkeypatch.setattr(mounts, "_statx", failing(errno.EACCES))
    assert mounts.is_mount_point("/proc")  # the mount table answers
