"""cAdvisor's readings of cgroup v1 trees, device names, and claims' inodes on btrfs
(node/cgroupstats.py, summary.claim_inodes)."""

from __future__ import annotations

import os
from pathlib import Path

from podhost.node import cgroupstats, stats, summary


def test_cgroup_v1_throttling_memory_and_blkio(tmp_path: Path) -> None:
    root, sys = tmp_path / "cgroup", tmp_path / "sys"
    for controller in ("cpu", "cpuacct", "memory", "blkio"):
        (root / controller / "podhost" / "c1").mkdir(parents=True)
    (root / "cpuacct" / "podhost" / "c1" / "cpuacct.usage").write_text("5\n")
    (root / "cpu" / "podhost" / "c1" / "cpu.stat").write_text(
        "nr_periods 12\nnr_throttled 3\nthrottled_time 250000000\n")
    (root / "memory" / "podhost" / "c1" / "memory.usage_in_bytes").write_text("4096\n")
    (root / "memory" / "podhost" / "c1" / "memory.stat").write_text(
        "cache 1\nrss 2\ntotal_cache 100\ntotal_rss 200\ntotal_swap 300\n")
    blkio = root / "blkio" / "podhost" / "c1"
    (blkio / "blkio.throttle.io_service_bytes").write_text(
        "8:0 Read 4096\n8:0 Write 1024\n8:0 Sync 5120\n8:0 Total 5120\nTotal 5120\n")
    (blkio / "blkio.throttle.io_serviced").write_text("8:0 Read 3\n8:0 Write 1\nTotal 4\n")
    (sys / "dev" / "block" / "8:0").mkdir(parents=True)
    (sys / "dev" / "block" / "8:0" / "uevent").write_text("MAJOR=8\nMINOR=0\nDEVNAME=sda\n")
    cgroup = stats.locate("/podhost/c1", root)
    assert cgroup is not None and cgroup.version == 1
    extra = cgroupstats.read_extra("/podhost/c1", cgroup, cgroup.read_memory()[1], root, sys)
    assert (extra.cfs_periods, extra.cfs_throttled_periods, extra.cfs_throttled_ns) == \
        (12, 3, 250000000)
    assert (extra.rss, extra.cache, extra.swap) == (200, 100, 300)
    assert extra.io == {"/dev/sda": [4096, 1024, 3, 1]}


def test_btrfs_claims_have_inodes_from_their_quota() -> None:
    btrfs = os.statvfs_result((4096, 4096, 1000, 500, 500, 0, 0, 0, 0, 255))
    assert summary.claim_inodes(btrfs, 10, 40960) == (20, 10)
    ext4 = os.statvfs_result((4096, 4096, 1000, 500, 500, 640, 600, 600, 0, 255))
    assert summary.claim_inodes(ext4, 10, 40960) == (640, 600)
