"""`/metrics/cadvisor`: what cAdvisor exports through a kubelet, under its names, labels and
units (cadvisor/metrics/prometheus.go), labelled `container`, `id`, `image`, `name`,
`namespace`, `pod` as kubelet's cAdvisor labels them.

Three kinds of series per Pod, as on a kubelet:

* one per **running container** (`container="app"`, the image's full reference), from its cgroup;
* one for the **Pod** (`container=""`, `image=""`): podhost makes no Pod-level cgroup, so its
  figures are the sums of its containers' cgroups (`id` names the Pod, `/podhost/pod<uid>`);
* one for the **sandbox** (`container="POD"`, as CRI-O names the infra container) with the
  network counters of the Pod's `eth0`, read from the host end of its veth pair.

The CFS counters appear only for a container whose cgroup has a CPU quota (periods > 0), and
block I/O only for a device the container did I/O on, as cAdvisor does.

The text is written here rather than by the client library's exposition: with 110 Pods a scrape
has thousands of series, and the library's per-sample label checks cost more than reading every
cgroup (bench/scrape_cost.py). The format is the same text format (version 0.0.4).
"""

from __future__ import annotations

from collections.abc import Callable

from podhost.node.cgroupstats import CgroupExtra
from podhost.node.summary import ContainerStats, PodStats

LABELS = ["container", "id", "image", "name", "namespace", "pod"]
NETWORK = (("receive", "rx", "received", "receiving"), ("transmit", "tx", "transmitted",
                                                         "transmitting"))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Family:
    """One metric family in the text format: its HELP, TYPE and sample lines."""

    def __init__(self, name: str, kind: str, text: str, labels: list[str]) -> None:
        self.name, self.kind, self.labels = name, kind, labels
        self.help = text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines: list[str] = []

    def add_metric(self, values: list[str], value: float) -> None:
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values, strict=True))
        number = repr(float(value)) if isinstance(value, float) and not value.is_integer() \
            else str(int(value))
        self.lines.append(f"{self.name}{{{pairs}}} {number}\n")

    def text(self) -> str:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n" + \
            "".join(self.lines)


def _counter(name: str, text: str, *extra: str) -> Family:
    return Family(name, "counter", text, [*LABELS, *extra])


def _gauge(name: str, text: str, *extra: str) -> Family:
    return Family(name, "gauge", text, [*LABELS, *extra])


class _Families:
    """The families of one scrape, filled Pod by Pod."""

    def __init__(self) -> None:
        self.cpu = _counter("container_cpu_usage_seconds_total",
                            "Cumulative cpu time consumed in seconds.")
        self.periods = _counter("container_cpu_cfs_periods_total",
                                "Number of elapsed enforcement period intervals.")
        self.throttled = _counter("container_cpu_cfs_throttled_periods_total",
                                  "Number of throttled period intervals.")
        self.throttled_s = _counter("container_cpu_cfs_throttled_seconds_total",
                                    "Total time duration the container has been throttled.")
        self.usage = _gauge("container_memory_usage_bytes", "Current memory usage in bytes, "
                            "including all memory regardless of when it was accessed")
        self.ws = _gauge("container_memory_working_set_bytes", "Current working set in bytes.")
        self.rss = _gauge("container_memory_rss", "Size of RSS in bytes.")
        self.cache = _gauge("container_memory_cache", "Number of bytes of page cache memory.")
        self.swap = _gauge("container_memory_swap", "Container swap usage in bytes.")
        self.fs = _gauge("container_fs_usage_bytes", "Number of bytes that are consumed by the "
                         "container on this filesystem.", "device")
        self.io = [_counter("container_fs_reads_bytes_total", "Cumulative count of bytes read",
                            "device"),
                   _counter("container_fs_writes_bytes_total", "Cumulative count of bytes "
                            "written", "device"),
                   _counter("container_fs_reads_total", "Cumulative count of reads completed",
                            "device"),
                   _counter("container_fs_writes_total", "Cumulative count of writes completed",
                            "device")]
        self.net: dict[tuple[str, str], Family] = {}
        for direction, key, done, doing in NETWORK:
            for suffix, attr, text in (
                    ("bytes_total", "bytes", f"Cumulative count of bytes {done}"),
                    ("packets_total", "packets", f"Cumulative count of packets {done}"),
                    ("errors_total", "errors", f"Cumulative count of errors encountered while "
                                               f"{doing}"),
                    ("packets_dropped_total", "dropped", f"Cumulative count of packets dropped "
                                                         f"while {doing}")):
                self.net[(key, attr)] = _counter(f"container_network_{direction}_{suffix}",
                                                 text, "interface")

    def all(self) -> list[Family]:
        return [self.cpu, self.periods, self.throttled, self.throttled_s, *self.io, self.fs,
                self.cache, self.rss, self.swap, self.usage, self.ws, *self.net.values()]

    def memory(self, values: list[str], usage: int | None, ws: int | None,
               extra: CgroupExtra | None) -> None:
        if usage is not None:
            self.usage.add_metric(values, usage)
        if ws is not None:
            self.ws.add_metric(values, ws)
        if extra is not None:
            self.rss.add_metric(values, extra.rss)
            self.cache.add_metric(values, extra.cache)
            self.swap.add_metric(values, extra.swap)

    def block_io(self, values: list[str], io: dict[str, list[int]]) -> None:
        for device, counts in sorted(io.items()):
            if any(counts):
                for family, count in zip(self.io, counts, strict=True):
                    family.add_metric([*values, device], count)

    def container(self, p: PodStats, c: ContainerStats) -> None:
        values = [c.name, f"/podhost/{c.id}", c.image, c.id, p.namespace, p.name]
        if c.cpu_ns is not None:
            self.cpu.add_metric(values, c.cpu_ns / 1e9)
        self.memory(values, c.memory_usage, c.memory_working_set, c.extra)
        self.fs.add_metric([*values, "rootfs"], c.rootfs_used + c.logs_used)
        if c.extra is not None:
            if c.extra.cfs_periods:
                self.periods.add_metric(values, c.extra.cfs_periods)
                self.throttled.add_metric(values, c.extra.cfs_throttled_periods)
                self.throttled_s.add_metric(values, c.extra.cfs_throttled_ns / 1e9)
            self.block_io(values, c.extra.io)

    def pod(self, p: PodStats) -> None:
        """The Pod-level series (the sum of its containers) and the sandbox's network."""
        values = ["", f"/podhost/pod{p.uid}", "", "", p.namespace, p.name]
        cs = p.containers
        self.cpu.add_metric(values, sum(c.cpu_ns or 0 for c in cs) / 1e9)
        extras = [c.extra for c in cs if c.extra is not None]
        total = CgroupExtra(rss=_sum(extras, lambda e: e.rss),
                            cache=_sum(extras, lambda e: e.cache),
                            swap=_sum(extras, lambda e: e.swap))
        for e in extras:
            for device, counts in e.io.items():
                slot = total.io.setdefault(device, [0, 0, 0, 0])
                slot[:] = [a + b for a, b in zip(slot, counts, strict=True)]
        self.memory(values, sum(c.memory_usage or 0 for c in cs),
                    sum(c.memory_working_set or 0 for c in cs), total)
        self.block_io(values, total.io)
        if p.network is not None:
            sandbox = ["POD", f"/podhost/pod{p.uid}/sandbox", "",
                       f"k8s_POD_{p.name}_{p.namespace}_{p.uid}_0", p.namespace, p.name, "eth0"]
            for (key, attr), family in self.net.items():
                family.add_metric(sandbox, (p.network.rx if key == "rx" else p.network.tx)[attr])


def _sum(extras: list[CgroupExtra], field: Callable[[CgroupExtra], int]) -> int:
    return sum(field(e) for e in extras)


def cadvisor_text(pods: list[PodStats]) -> str:
    families = _Families()
    for p in pods:
        for c in p.containers:
            families.container(p, c)
        families.pod(p)
    return "".join(f.text() for f in families.all())
