"""Container and node usage from fake cgroup v1 / v2 trees (node/stats.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podhost.node import stats
from podhost.node.stats import Cgroup, Sample, Sampler

CID = "0123abcd"
PATH = f"/podhost/{CID}"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v1_tree(root: Path, usage_ns: int, memory: int, inactive: int) -> None:
    write(root / "cpuacct" / "podhost" / CID / "cpuacct.usage", f"{usage_ns}\n")
    write(root / "memory" / "podhost" / CID / "memory.usage_in_bytes", f"{memory}\n")
    write(root / "memory" / "podhost" / CID / "memory.stat",
          f"cache 8192\ninactive_file 1\ntotal_inactive_file {inactive}\n")


def v2_tree(base: Path, usage_us: int, memory: int, inactive: int) -> None:
    write(base / "podhost" / CID / "cpu.stat", f"usage_usec {usage_us}\nuser_usec 1\n")
    write(base / "podhost" / CID / "memory.current", f"{memory}\n")
    write(base / "podhost" / CID / "memory.stat", f"anon 4096\ninactive_file {inactive}\n")


def fake_proc(proc: Path, busy_ticks: int) -> None:
    write(proc / "stat", f"cpu  {busy_ticks} 0 0 500 20 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
    write(proc / "meminfo", "MemTotal:       8000000 kB\nMemAvailable:   6000000 kB\n")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_flat_keyed_skips_other_lines() -> None:
    assert stats.parse_flat_keyed("a 1\nb two\nc 3 4\n\nd -5\n") == {"a": 1, "d": -5}


def test_v1_cgroup_cpu_and_working_set(tmp_path: Path) -> None:
    v1_tree(tmp_path, 5_000_000, 10 * 2**20, 2 * 2**20)
    cg = stats.locate(PATH, tmp_path)
    assert cg == Cgroup(1, tmp_path / "cpuacct" / "podhost" / CID,
                        tmp_path / "memory" / "podhost" / CID)
    assert cg.cpu_usage_ns() == 5_000_000
    assert cg.memory_working_set() == 8 * 2**20  # usage − total_inactive_file


@pytest.mark.parametrize("unified", ["", "unified"])
def test_v2_cgroup_cpu_and_working_set(tmp_path: Path, unified: str) -> None:
    v2_tree(tmp_path / unified if unified else tmp_path, 1500, 4096 * 10, 4096 * 3)
    cg = stats.locate(PATH, tmp_path)
    assert cg is not None and cg.version == 2
    assert cg.cpu_usage_ns() == 1_500_000
    assert cg.memory_working_set() == 4096 * 7


def test_working_set_never_negative_and_missing_cgroup(tmp_path: Path) -> None:
    v1_tree(tmp_path, 1, 4096, 8192)
    cg = stats.locate(PATH, tmp_path)
    assert cg is not None and cg.memory_working_set() == 0
    assert stats.locate("/podhost/gone", tmp_path) is None


def test_node_cpu_and_memory(tmp_path: Path) -> None:
    fake_proc(tmp_path / "proc", 250)
    assert stats.node_cpu_usage_ns(tmp_path / "proc") == 250 * 10_000_000
    assert stats.node_memory_working_set(tmp_path / "cg", tmp_path / "proc") == 2000000 * 1024
    write(tmp_path / "cg" / "memory" / "memory.usage_in_bytes", "100000\n")
    write(tmp_path / "cg" / "memory" / "memory.stat", "total_inactive_file 40000\n")
    assert stats.node_memory_working_set(tmp_path / "cg", tmp_path / "proc") == 60000


def test_rate_is_usage_delta_over_window() -> None:
    found = stats.rate(Sample(10.0, 1_000_000_000), Sample(12.0, 2_000_000_000))
    assert found is not None and found.nanocores == 500_000_000 and found.window == 2.0
    assert stats.rate(Sample(10.0, 5), Sample(11.0, 1)) is None  # counter reset


def test_observe_keeps_recent_rate_and_drops_stale_samples() -> None:
    clock = Clock()
    sampler = Sampler(clock=clock)
    assert sampler.observe("c", 0) is None
    clock.now += 1
    assert sampler.observe("c", 250_000_000).nanocores == 250_000_000  # type: ignore[union-attr]
    clock.now += 0.1  # too soon for a new window: the last rate stands
    assert sampler.observe("c", 900_000_000).nanocores == 250_000_000  # type: ignore[union-attr]
    clock.now += stats.MAX_AGE + 1
    assert sampler.needs_first_sample(["c"])
    assert sampler.observe("c", 1_000_000_000) is None


def test_usage_samples_twice_when_nothing_recent(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    v1_tree(tmp_path, 1_000_000_000, 3 * 2**20, 2**20)
    fake_proc(tmp_path / "proc", 100)
    clock = Clock()
    sampler = Sampler(tmp_path, tmp_path / "proc", clock)

    async def sleep(seconds: float) -> None:  # a second passes, the container burns 0.5 s
        clock.now += seconds
        v1_tree(tmp_path, 1_500_000_000, 3 * 2**20, 2**20)
        fake_proc(tmp_path / "proc", 150)

    monkeypatch.setattr(stats.asyncio, "sleep", sleep)
    usage = asyncio.run(sampler.usage({("default", "web"): {"app": PATH, "gone": "/podhost/x"}}))
    assert usage.cpu_nanocores == 500_000_000 and usage.window == stats.FIRST_WINDOW
    [pod] = usage.pods
    assert (pod.namespace, pod.name, pod.window, pod.timestamp) == ("default", "web", 1.0, 1001)
    [container] = pod.containers
    assert (container.name, container.cpu_nanocores, container.memory_bytes) == \
        ("app", 500_000_000, 2 * 2**20)


def test_usage_forgets_containers_that_are_gone(tmp_path: Path) -> None:
    sampler = Sampler(tmp_path, tmp_path / "proc", Clock())
    sampler.last["/podhost/old"] = Sample(1.0, 1)
    sampler.forget_except({""})
    assert sampler.last == {}
