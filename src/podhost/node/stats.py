"""Resource usage of containers and of the node from cgroups, as kubelet's summary computes it.

CPU is a rate: `usage` (cgroup v1 `cpuacct.usage`, v2 `cpu.stat` `usage_usec`) sampled twice,
the difference over the time between the samples in nanocores; the window is that time, as
metrics-server reports it. Memory is the working set: usage minus `inactive_file`, never below 0.

podhost asks runc for the cgroupfs path `/<parent>/<container id>` (runtime/spec.py); on a v1 or
hybrid machine it is under each controller (`<root>/cpuacct/<path>`, `<root>/memory/<path>`), on
a v2 machine under the unified hierarchy (`<root>/<path>`, or `<root>/unified/<path>` when only a
v2 tree without controllers is mounted beside v1).

Samples are taken on request: the last sample per container is kept, and when none is recent
enough (`MAX_AGE`) two samples `FIRST_WINDOW` apart are taken. Everything but `Sampler.usage`'s
sleep is synchronous file reading over a root directory, so tests use fake cgroup trees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podhost.api.nodeapi import ContainerUsage, NodeUsage, PodUsage

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
FIRST_WINDOW = 1.0  # s between the two samples when there is no recent one
MIN_WINDOW = 1.0  # a sample younger than this is reused rather than replaced
MAX_AGE = 60.0  # an older sample is too stale to make a rate from
USER_HZ = 100

# (namespace, name) → {container name: cgroupsPath}
PodCgroups = Mapping[tuple[str, str], Mapping[str, str]]


def parse_flat_keyed(text: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat) → {key: value}; other lines are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Cgroup:
    """Where one cgroup's CPU and memory files are: v1 (a directory per controller) or v2."""

    version: int
    cpu: Path
    memory: Path

    def cpu_usage_ns(self) -> int | None:
        if self.version == 1:
            return _read_int(self.cpu / "cpuacct.usage")
        usec = parse_flat_keyed(_read(self.cpu / "cpu.stat") or "").get("usage_usec")
        return None if usec is None else usec * 1000

    def read_memory(self) -> tuple[int | None, dict[str, int]]:
        """The memory usage and `memory.stat`, each read once."""
        usage = _read_int(self.memory / ("memory.usage_in_bytes" if self.version == 1
                                         else "memory.current"))
        if usage is None:
            return None, {}
        return usage, parse_flat_keyed(_read(self.memory / "memory.stat") or "")

    def working_set(self, usage: int | None, stat: dict[str, int]) -> int | None:
        """Usage minus the inactive file cache, never below 0."""
        if usage is None:
            return None
        inactive = stat.get("total_inactive_file" if self.version == 1 else "inactive_file", 0)
        return max(usage - inactive, 0)

    def memory_working_set(self) -> int | None:
        return self.working_set(*self.read_memory())


def locate(cgroups_path: str, root: Path = CGROUP_ROOT) -> Cgroup | None:
    """The cgroup of a cgroupfs path (`/podhost/<id>`) under v1 controllers or v2, or None."""
    rel = cgroups_path.strip("/")
    cpuacct, memory = root / "cpuacct" / rel, root / "memory" / rel
    if (cpuacct / "cpuacct.usage").exists():
        return Cgroup(1, cpuacct, memory)
    for base in (root, root / "unified"):
        if (base / rel / "cpu.stat").exists():
            return Cgroup(2, base / rel, base / rel)
    return None


def node_cpu_usage_ns(proc: Path = PROC) -> int | None:
    """Busy CPU time of the machine from /proc/stat (everything but idle and iowait)."""
    for line in (_read(proc / "stat") or "").splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(v) for v in fields[1:9]]
            busy = sum(ticks) - ticks[3] - ticks[4]
            return busy * (1_000_000_000 // USER_HZ)
    return None


def node_memory_working_set(root: Path = CGROUP_ROOT, proc: Path = PROC) -> int:
    """The root memory cgroup's working set (v1), else MemTotal − MemAvailable."""
    root_cgroup = Cgroup(1, root / "cpuacct", root / "memory").memory_working_set()
    if root_cgroup is not None:
        return root_cgroup
    info = {k.rstrip(":"): v * 1024 for k, v in
            parse_flat_keyed((_read(proc / "meminfo") or "").replace(" kB", "")).items()}
    return max(info.get("MemTotal", 0) - info.get("MemAvailable", 0), 0)


@dataclass(frozen=True)
class Sample:
    time: float  # time.time()
    usage_ns: int


@dataclass(frozen=True)
class Rate:
    nanocores: int
    time: float  # the later sample
    window: float


def rate(before: Sample, after: Sample) -> Rate | None:
    window = after.time - before.time
    if window <= 0 or after.usage_ns < before.usage_ns:  # restarted counter: no rate yet
        return None
    return Rate(int((after.usage_ns - before.usage_ns) / window), after.time, window)


class Sampler:
    """The last two CPU samples per key (container cgroup path, or "" for the node)."""

    def __init__(self, root: Path = CGROUP_ROOT, proc: Path = PROC,
                 clock: Callable[[], float] = time.time) -> None:
        self.root, self.proc, self.clock = root, proc, clock
        self.last: dict[str, Sample] = {}
        self.rates: dict[str, Rate] = {}

    def needs_first_sample(self, keys: list[str]) -> bool:
        now = self.clock()
        return any(k not in self.last or now - self.last[k].time > MAX_AGE for k in keys)

    def observe(self, key: str, usage_ns: int | None) -> Rate | None:
        """Record a sample; the rate since the previous one (kept when that is very recent)."""
        if usage_ns is None:
            return None
        now, before = self.clock(), self.last.get(key)
        if before is not None and now - before.time < MIN_WINDOW and key in self.rates:
            return self.rates[key]
        sample = Sample(now, usage_ns)
        self.last[key] = sample
        if before is None or now - before.time > MAX_AGE:
            self.rates.pop(key, None)
            return None
        found = rate(before, sample)
        if found is not None:
            self.rates[key] = found
        return found

    def forget_except(self, keys: set[str]) -> None:
        for table in (self.last, self.rates):
            for key in [k for k in table if k not in keys]:
                del table[key]

    def _cgroups(self, pods: PodCgroups) -> dict[str, Cgroup]:
        found: dict[str, Cgroup] = {}
        for containers in pods.values():
            for path in containers.values():
                cgroup = locate(path, self.root)
                if cgroup is not None:
                    found[path] = cgroup
        return found

    def _sample_all(self, cgroups: dict[str, Cgroup]) -> dict[str, Rate | None]:
        rates = {path: self.observe(path, cg.cpu_usage_ns()) for path, cg in cgroups.items()}
        rates[""] = self.observe("", node_cpu_usage_ns(self.proc))
        return rates

    async def usage(self, pods: PodCgroups) -> NodeUsage:
        """Usage of the node and of each Pod's running containers (those with a cgroup)."""
        cgroups = self._cgroups(pods)
        self.forget_except(set(cgroups) | {""})
        if self.needs_first_sample([*cgroups, ""]):
            self._sample_all(cgroups)
            await asyncio.sleep(FIRST_WINDOW)
        rates = self._sample_all(cgroups)
        pod_usage = [p for p in (self._pod(key, containers, cgroups, rates)
                                 for key, containers in pods.items()) if p is not None]
        node = rates.get("") or Rate(0, self.clock(), FIRST_WINDOW)
        return NodeUsage(cpu_nanocores=node.nanocores,
                         memory_bytes=node_memory_working_set(self.root, self.proc),
                         timestamp=node.time, window=node.window, pods=pod_usage)

    @staticmethod
    def _pod(key: tuple[str, str], containers: Mapping[str, str], cgroups: dict[str, Cgroup],
             rates: dict[str, Rate | None]) -> PodUsage | None:
        usage, windows = [], []
        for name, path in containers.items():
            found, cgroup = rates.get(path), cgroups.get(path)
            if found is None or cgroup is None:
                continue
            usage.append(ContainerUsage(name, found.nanocores, cgroup.memory_working_set() or 0))
            windows.append(found)
        if not usage:
            return None
        latest = max(windows, key=lambda r: r.time)
        return PodUsage(key[0], key[1], usage, timestamp=latest.time, window=latest.window)
