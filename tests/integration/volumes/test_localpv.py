"""The built-in provisioner's btrfs pool on the real host: hard capacity (EDQUOT), online
growth, deletion, release (needs root, btrfs-progs and loop devices)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.host import mount as mounts
from podhost.volumes.localpv import BTRFS, LocalPool

pytestmark = pytest.mark.integration
MI = 1 << 20


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[LocalPool]:
    if not shutil.which("mkfs.btrfs"):
        pytest.skip("btrfs-progs is not installed")
    p = LocalPool(tmp_path)
    try:
        yield p
    finally:
        p.release()


def write(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MI):
            f.write(b"\0" * MI)
            f.flush()
            os.fsync(f.fileno())


def test_capacity_is_hard_and_grows_online(pool: LocalPool) -> None:
    assert pool.ensure() == BTRFS
    path = pool.create("pvc-u_default_data", 8 * MI)
    assert oct(path.stat().st_mode & 0o777) == "0o777"
    with pytest.raises(OSError) as e:
        write(path / "a", 20 * MI)
    assert e.value.errno == errno.EDQUOT
    (path / "a").unlink()
    pool.resize("pvc-u_default_data", 32 * MI)
    write(path / "b", 20 * MI)
    pool.delete("pvc-u_default_data")
    assert not path.exists()
    pool.release()
    assert not mounts.is_mount_point(pool.path)
    assert pool.ensure() == BTRFS  # the image is mounted again


def test_pool_is_sized_to_the_free_space_and_counts_promises(pool: LocalPool) -> None:
    from podhost.volumes.localpv import free_bytes
    before = free_bytes(pool.base.parent)
    assert pool.ensure() == BTRFS
    assert pool.image.stat().st_size <= before  # not the whole filesystem
    empty = pool.room()
    pool.create("pvc-u_default_big", 64 * MI)
    room = pool.room()
    assert room.free <= free_bytes(pool.base)
    assert 60 * MI <= room.promised - empty.promised <= 64 * MI
    assert room.refuse("1Ti", 1 << 40).startswith("not enough free space on the node")
    pool.delete("pvc-u_default_big")
