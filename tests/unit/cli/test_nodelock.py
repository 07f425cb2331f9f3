"""The node lock: one `podhost serve` per root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from podhost.cli import nodelock


def test_second_lock_on_the_same_root_names_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from podhost.cli import nodelock; nodelock.acquire(Path(sys.argv[1])); "
         "print('locked', flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(nodelock.AlreadyRunning) as e:
            nodelock.acquire(tmp_path)
        assert f"already running on {tmp_path} (pid {holder.pid})" in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    fd = nodelock.acquire(tmp_path)  # the holder is gone: its lock went with it
    assert (tmp_path / "podhost.lock").read_text() == f"{os.getpid()}\n"
    os.close(fd)


def test_lock_is_not_inherited_by_children(tmp_path: Path) -> None:
    fd = nodelock.acquire(tmp_path)
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        os.close(fd)  # the node is gone; a container it started keeps running
        os.close(nodelock.acquire(tmp_path))
    finally:
        child.kill()
        child.wait()
