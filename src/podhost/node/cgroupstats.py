"""What cAdvisor reads of a container beyond its CPU time and working set (`node/stats.py`):
CFS throttling (`cpu.stat`), RSS, page cache and swap (`memory.stat`), block I/O per device
(cgroup v1 `blkio.throttle.io_service_bytes` / `io_serviced`, v2 `io.stat`), and each Pod's
network counters from the host end of its veth pair (`/proc/net/dev`, read once per scrape).

cgroup v1 keeps each controller in its own tree (`<root>/cpu/<path>`, `<root>/blkio/<path>`),
v2 one directory per cgroup; the same `Cgroup` found by `stats.locate` says which.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from podhost.node.stats import CGROUP_ROOT, PROC, Cgroup, _read, _read_int, parse_flat_keyed

SYS = Path("/sys")
# /proc/net/dev: 8 receive then 8 transmit columns; cAdvisor's four of each
RX = {"bytes": 0, "packets": 1, "errors": 2, "dropped": 3}
TX = {"bytes": 8, "packets": 9, "errors": 10, "dropped": 11}


@dataclass
class CgroupExtra:
    cfs_periods: int = 0
    cfs_throttled_periods: int = 0
    cfs_throttled_ns: int = 0
    rss: int = 0
    cache: int = 0
    swap: int = 0
    # device (`/dev/sda`) → [read bytes, written bytes, reads, writes]
    io: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class NetDev:
    """One interface's counters as the Pod sees them (the host end's reversed)."""

    rx: dict[str, int]
    tx: dict[str, int]


@functools.lru_cache(maxsize=256)
def device_name(major_minor: str, sys: Path = SYS) -> str:
    """`8:0` → `/dev/sda`, as cAdvisor names a block device (the numbers when unknown)."""
    for line in (_read(sys / "dev" / "block" / major_minor / "uevent") or "").splitlines():
        if line.startswith("DEVNAME="):
            return "/dev/" + line.removeprefix("DEVNAME=")
    return major_minor


def _blkio_v1(directory: Path, sys: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, offset in (("blkio.throttle.io_service_bytes", 0), ("blkio.throttle.io_serviced",
                                                                   2)):
        for line in (_read(directory / name) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write") and parts[2].isdigit():
                slot = out.setdefault(device_name(parts[0], sys), [0, 0, 0, 0])
                slot[offset + (parts[1] == "Write")] += int(parts[2])
    return out


def _io_v2(directory: Path, sys: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for line in (_read(directory / "io.stat") or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        keys = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        out[device_name(parts[0], sys)] = [int(keys.get(k, 0)) for k in
                                           ("rbytes", "wbytes", "rios", "wios")]
    return out


def read_extra(cgroups_path: str, cgroup: Cgroup, memory: dict[str, int],
               root: Path = CGROUP_ROOT, sys: Path = SYS) -> CgroupExtra:
    """Throttling, memory detail (from its `memory.stat`) and block I/O of one container's
    cgroup."""
    rel = cgroups_path.strip("/")
    if cgroup.version == 1:
        cpu = parse_flat_keyed(_read(root / "cpu" / rel / "cpu.stat") or "")
        return CgroupExtra(cpu.get("nr_periods", 0), cpu.get("nr_throttled", 0),
                           cpu.get("throttled_time", 0), memory.get("total_rss", 0),
                           memory.get("total_cache", 0), memory.get("total_swap", 0),
                           _blkio_v1(root / "blkio" / rel, sys))
    cpu = parse_flat_keyed(_read(cgroup.cpu / "cpu.stat") or "")
    return CgroupExtra(cpu.get("nr_periods", 0), cpu.get("nr_throttled", 0),
                       cpu.get("throttled_usec", 0) * 1000, memory.get("anon", 0),
                       memory.get("file", 0), _read_int(cgroup.memory / "memory.swap.current")
                       or 0, _io_v2(cgroup.cpu, sys))


def net_dev(proc: Path = PROC) -> dict[str, list[int]]:
    """The node's interfaces and their 16 counters (`/proc/net/dev` of the node's netns)."""
    out: dict[str, list[int]] = {}
    for line in (_read(proc / "net" / "dev") or "").splitlines()[2:]:
        name, _, counters = line.partition(":")
        values = counters.split()
        if len(values) == 16:
            out[name.strip()] = [int(v) for v in values]
    return out


def pod_interface(host_end: list[int]) -> NetDev:
    """The Pod's eth0 from its veth's host end: what the host end sends, the Pod receives."""
    return NetDev({k: host_end[i] for k, i in TX.items()},
                  {k: host_end[i] for k, i in RX.items()})
