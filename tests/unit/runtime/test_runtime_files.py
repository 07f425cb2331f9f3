"""Runtime's on-disk bookkeeping that needs no runc: exit-dir scan, bundle listing, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podhost.runtime.errors import (
    ConmonStartError,
    ContainerNotFoundError,
    ContainerRuntimeError,
    ExecStartError,
)
from podhost.runtime.runc import Runtime, runc_error_message
from podhost.runtime.sandbox import namespace_paths, sandbox_exists


def test_exited_scans_exit_dir(tmp_path: Path) -> None:
    rt = Runtime(tmp_path)
    assert rt.exited() == {}
    rt.exits_dir.mkdir()
    (rt.exits_dir / "a").write_text("3")
    (rt.exits_dir / "b").write_text("0")
    (rt.exits_dir / "c.Q1W2E3").write_text("")  # conmon's temp file before the rename
    (rt.exits_dir / "d").write_text("")  # not a complete exit file
    assert rt.exited() == {"a": 3, "b": 0}
    assert rt.exited() == {"a": 3, "b": 0}  # cached
    (rt.exits_dir / "a").unlink()
    (rt.exits_dir / "a").write_text("137")  # id reused (maybe same inode): new mtime
    os.utime(rt.exits_dir / "a", ns=(1, 1))
    (rt.exits_dir / "b").unlink()
    assert rt.exited() == {"a": 137}


def test_list_and_not_found(tmp_path: Path) -> None:
    rt = Runtime(tmp_path)
    assert rt.list() == []
    (rt.containers_dir / "x1").mkdir(parents=True)
    (rt.containers_dir / "x2").mkdir()
    assert rt.list() == ["x1", "x2"]
    assert rt.pid("x1") is None
    with pytest.raises(ContainerNotFoundError):
        rt.metadata("nope")
    with pytest.raises(ValueError):
        rt.bundle_dir("../etc")


def test_runc_error_message() -> None:
    json_log = (b'{"level":"warning","msg":"unimportant","time":"t"}\n'
                b'{"level":"error","msg":"exec failed: unable to start container process: '
                b'exec: \\"bash\\": executable file not found in $PATH","time":"t"}\n')
    assert runc_error_message(json_log) == (
        'exec failed: unable to start container process: exec: "bash": executable file not '
        'found in $PATH')
    assert runc_error_message(b"container does not exist\n") == "container does not exist"
    assert runc_error_message(b"") == ""


def test_error_hierarchy() -> None:
    for cls in (ContainerNotFoundError, ConmonStartError, ExecStartError):
        assert issubclass(cls, ContainerRuntimeError)
    assert not issubclass(ContainerRuntimeError, RuntimeError)
    assert ExecStartError("msg", 255).exit_code == 255
    assert "c9" in str(ContainerNotFoundError("c9"))


def test_sandbox_namespace_paths(tmp_path: Path) -> None:
    assert namespace_paths(tmp_path) == {"network": str(tmp_path / "net"),
                                         "ipc": str(tmp_path / "ipc"),
                                         "uts": str(tmp_path / "uts")}
    assert not sandbox_exists(tmp_path)
