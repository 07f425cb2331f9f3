"""Hostile entries in a volume (a FIFO, a device node, symlinks swapped in while a request runs)
never block the browser, and never block the node: the browser runs on executor threads of its
own, within a time limit, so the loop's default threads (Pod set-up and teardown) stay free."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from podhost.api import errors
from podhost.node import volume_access
from podhost.node.volume_access import VolumeAccess
from podhost.volumes import browse
from podhost.volumes.browse import BrowseError


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "vol"
    root.mkdir()
    os.mkfifo(root / "fifo")
    return root


def quick(fn: Any, *args: Any) -> BaseException | None:
    """fn(*args) in a thread that must end within a second (a blocked open would not)."""
    out: list[BaseException | None] = [None]

    def run() -> None:
        try:
            result = fn(*args)
            if hasattr(result, "__next__"):
                b"".join(result)
        except BaseException as e:
            out[0] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(1.0)
    assert not t.is_alive(), f"{fn.__name__}{args[1:]} blocked"
    return out[0]


def test_a_fifo_is_refused_without_being_opened(volume: Path) -> None:
    for fn, args in ((browse.write_file, (volume, "fifo", "v", b"x")),
                     (browse.write_file, (volume, "fifo", "v", b"x", 3)),
                     (browse.read_file, (volume, "fifo", "v"))):
        e = quick(fn, *args)
        assert isinstance(e, BrowseError) and str(e) == '"fifo" is not a regular file'
    kind, entries = browse.list_path(volume, "fifo", "v")
    assert kind == "other" and entries[0].name == "fifo"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_is_never_opened(volume: Path) -> None:
    os.mknod(volume / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    before = os.stat(volume / "null").st_atime
    for fn, args in ((browse.write_file, (volume, "null", "v", b"x")),
                     (browse.read_file, (volume, "null", "v"))):
        e = quick(fn, *args)
        assert isinstance(e, BrowseError) and str(e) == '"null" is not a regular file'
    assert os.stat(volume / "null").st_atime == before


def test_a_symlink_to_a_fifo_is_not_followed(volume: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "outside")
    os.symlink(tmp_path / "outside", volume / "link")
    e = quick(browse.write_file, volume, "link", "v", b"x")
    assert isinstance(e, BrowseError) and e.kind == "forbidden"
    e = quick(browse.read_file, volume, "link", "v")
    assert isinstance(e, BrowseError) and e.kind == "forbidden"


def test_symlink_and_fifo_races_never_block(volume: Path, tmp_path: Path) -> None:
    """A container swaps the target between a file, a FIFO and a symlink to a FIFO while the
    browser writes and reads it: every request ends at once, nothing outside is written."""
    os.mkfifo(tmp_path / "outside")
    stop = threading.Event()

    def swap() -> None:
        target = volume / "t"
        while not stop.is_set():
            for make in (lambda: target.write_bytes(b"ok"), lambda: os.mkfifo(target),
                         lambda: os.symlink(tmp_path / "outside", target)):
                try:
                    make()
                except FileExistsError:
                    pass
                try:
                    os.unlink(target)
                except FileNotFoundError:
                    pass
    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            quick(browse.write_file, volume, "t", "v", b"data")
            quick(browse.read_file, volume, "t", "v")
    finally:
        stop.set()
        swapper.join()
    assert stat.S_ISFIFO(os.stat(tmp_path / "outside").st_mode)


class _Worker(SimpleNamespace):
    pass


def _access(root: Path) -> VolumeAccess:
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"volumes": [{"name": "v", "hostPath": {"path": str(root)}}]}}

    async def find(namespace: str, name: str) -> Any:
        return _Worker(pod=pod, uid="u", sandbox_ready=True)
    return VolumeAccess(SimpleNamespace(pod_dir=lambda uid: root), find)  # type: ignore[arg-type]


def test_a_stuck_request_leaves_the_default_threads_free(volume: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a request that does block (here a slow filesystem, faked) holds only the browser's
    threads, is answered 504 at its time limit, more than the queue allows are answered 429, and
    the loop's default executor (Pod teardown's) answers at once all along."""
    release = threading.Event()
    monkeypatch.setattr(browse, "list_path", lambda *a: release.wait(5) and ("file", []))

    async def scenario() -> None:
        access = _access(volume)
        access.time_limit = 0.5
        stuck = [asyncio.ensure_future(access.list("ns", "p", "v", "fifo"))
                 for _ in range(volume_access.QUEUED)]
        await asyncio.sleep(0.05)
        with pytest.raises(errors.TooManyRequestsError):
            await access.list("ns", "p", "v", "fifo")
        started = time.monotonic()
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "teardown"), 1) == "teardown"
        assert time.monotonic() - started < 0.5
        results = await asyncio.gather(*stuck, return_exceptions=True)
        assert all(isinstance(r, errors.RequestTimeoutError) for r in results)
        release.set()
        access.executor.shutdown(wait=True)
    asyncio.run(scenario())


def test_writes_through_the_node_api(volume: Path) -> None:
    async def scenario() -> None:
        access = _access(volume)
        with pytest.raises(errors.BadRequestError, match="is not a regular file"):
            await access.write("ns", "p", "v", "fifo", b"x")
        await access.write("ns", "p", "v", "dir/f", b"hello")
        chunks = await access.read("ns", "p", "v", "dir/f")
        assert b"".join([c async for c in chunks]) == b"hello"
        access.executor.shutdown()
    asyncio.run(scenario())
