"""What the node measures of its Pods, and the three shapes kubelet serves it in: the Summary
API (`/stats/summary`, pkg/kubelet/apis/stats/v1alpha1/types.go), cAdvisor's metrics
(`/metrics/cadvisor`) and the resource metrics (`/metrics/resource`).

`measure` is synchronous file reading (cgroups, the Pods' volume directories, the containers'
upper directories and logs), run on a thread; the CPU rate comes from `stats.Sampler`, as for
metrics.k8s.io. Volumes are measured as kubelet's volume metrics do: used bytes and inodes as
`du` counts them (one device, hard links once), capacity and free space of the filesystem that
holds them (statvfs), a claim's capacity its quota. hostPath and image volumes have no metrics
(as upstream).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podhost.api import meta
from podhost.api.nodeapi import NodeUsage
from podhost.api.types import Obj
from podhost.images.errors import InvalidReferenceError
from podhost.images.reference import parse_reference
from podhost.images.snapshots import rootfs_paths
from podhost.network import host_ifname
from podhost.node import stats
from podhost.node.cgroupstats import CgroupExtra, NetDev, net_dev, pod_interface, read_extra
from podhost.node.paths import NodePaths
from podhost.runtime.spec import cgroups_path
from podhost.runtime.types import ContainerConfig
from podhost.volumes import claims, emptydir, projection
from podhost.volumes.eviction import usage_and_inodes


@dataclass
class VolumeStats:
    name: str
    used: int
    inodes_used: int
    capacity: int
    available: int
    inodes: int
    inodes_free: int
    claim: tuple[str, str] | None = None  # (namespace, claim name)


@dataclass
class ContainerStats:
    name: str
    id: str
    image: str
    start_time: str
    cpu_ns: int | None
    memory_working_set: int | None
    memory_usage: int | None
    rootfs_used: int
    logs_used: int
    nanocores: int = 0
    extra: CgroupExtra | None = None  # throttling, memory detail, block I/O (cAdvisor's)


@dataclass
class PodStats:
    namespace: str
    name: str
    uid: str
    start_time: str
    containers: list[ContainerStats] = field(default_factory=list)
    volumes: list[VolumeStats] = field(default_factory=list)
    network: NetDev | None = None  # eth0, from the host end of its veth pair


def _volume_path(pod_dir: Path, volume: Obj) -> Path | None:
    if volume.get("hostPath") is not None or volume.get("image") is not None:
        return None
    if projection.source_of(volume) is not None:
        return projection.volume_path(pod_dir, volume)
    if claims.is_claim(volume):
        return None  # measured by _claim
    if volume.get("emptyDir") is not None:
        return emptydir.volume_path(pod_dir, volume.get("name", ""))
    return None


def volume_stats(pod_dir: Path, pod: Obj, store: Any) -> list[VolumeStats]:
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        with contextlib.suppress(Exception):  # a volume going away while measured
            found = _one_volume(pod_dir, pod, volume, store)
            if found is not None:
                out.append(found)
    return out


def _one_volume(pod_dir: Path, pod: Obj, volume: Obj, store: Any) -> VolumeStats | None:
    name = volume.get("name", "")
    if claims.is_claim(volume):
        return _claim(pod_dir, pod, volume, store)
    path = _volume_path(pod_dir, volume)
    if path is None or not path.is_dir():
        return None
    used, inodes_used = usage_and_inodes(path)
    vfs = os.statvfs(path)
    return VolumeStats(name, used, inodes_used, vfs.f_blocks * vfs.f_frsize,
                       vfs.f_bavail * vfs.f_frsize, vfs.f_files, vfs.f_ffree)


def _claim(pod_dir: Path, pod: Obj, volume: Obj, store: Any) -> VolumeStats | None:
    """A mounted local claim: used as `du`, capacity its PV's (the quota)."""
    from podhost.api import volumeclaims
    from podhost.host import mount as mounts
    pv = claims._volume(claims._claim(pod, volume, store), store)
    target = pod_dir / "volumes" / claims.LOCAL_PLUGIN / str(pv["metadata"]["name"])
    if not (pv.get("spec") or {}).get("local") or not mounts.is_mount_point(target):
        return None
    capacity = volumeclaims.capacity(pv)
    used, inodes_used = usage_and_inodes(target)
    vfs = os.statvfs(target)
    available = max(capacity - used, 0)
    inodes, inodes_free = claim_inodes(vfs, inodes_used, available)
    return VolumeStats(volume.get("name", ""), used, inodes_used, capacity, available, inodes,
                       inodes_free, (pod["metadata"].get("namespace") or "default",
                                     claims.claim_name(pod, volume)))


def claim_inodes(vfs: os.statvfs_result, inodes_used: int, available: int) -> tuple[int, int]:
    """(inodes, free inodes) of a claim. A filesystem with an inode table reports them; btrfs
    has none (statvfs says 0 and 0: inodes are made as needed), so its limit is the claim's
    quota: each further file takes at least one block of the quota's free bytes."""
    if vfs.f_files:
        return vfs.f_files, vfs.f_ffree
    free = available // (vfs.f_frsize or vfs.f_bsize or 4096)
    return inodes_used + free, free


def full_image(image: str) -> str:
    """The image reference as the runtime reports it (`nginx` → its normalised name and tag)."""
    try:
        return str(parse_reference(image))
    except InvalidReferenceError:
        return image


ROOTFS_TTL = 10.0  # seconds a container's writable layer usage is reused, as cAdvisor's du
_rootfs: dict[str, tuple[float, int]] = {}  # upper directory -> (monotonic time, bytes)


def rootfs_usage(upper: Path) -> int:
    """The bytes of a container's writable layer (`du`), measured at most every ROOTFS_TTL
    seconds: cAdvisor walks it in the background, never in a scrape."""
    now = time.monotonic()
    key = str(upper)
    found = _rootfs.get(key)
    if found is None or now - found[0] > ROOTFS_TTL:
        for stale in [k for k, (t, _) in _rootfs.items() if now - t > 6 * ROOTFS_TTL]:
            del _rootfs[stale]  # containers gone
        used = 0
        with contextlib.suppress(OSError):
            used = usage_and_inodes(upper)[0]
        found = _rootfs[key] = (now, used)
    return found[1]


def _container(paths: NodePaths, pod: Obj, rec: Any, cgroup_root: Path) -> ContainerStats:
    cid = rec.id or ""
    path = cgroups_path(ContainerConfig.cgroup_parent, cid)
    cgroup = stats.locate(path, cgroup_root)
    rootfs = rootfs_usage(rootfs_paths(paths.overlay_dir(cid))[0])
    logs = 0
    with contextlib.suppress(OSError):
        logs = paths.log_path(pod, rec.name, rec.attempt).stat().st_size
    spec: Obj = next((c for c in (pod.get("spec") or {}).get("containers") or []
                 if c.get("name") == rec.name), {})
    out = ContainerStats(rec.name, cid, full_image(str(spec.get("image") or "")),
                         str(rec.started_at or ""), None, None, None, rootfs, logs)
    if cgroup is not None:
        usage, stat = cgroup.read_memory()
        out.cpu_ns, out.memory_usage = cgroup.cpu_usage_ns(), usage
        out.memory_working_set = cgroup.working_set(usage, stat)
        out.extra = read_extra(path, cgroup, stat, cgroup_root)
    return out


def measure(workers: Iterable[Any], paths: NodePaths, store: Any,
            cgroup_root: Path = stats.CGROUP_ROOT, proc: Path = stats.PROC,
            volumes: bool = True) -> list[PodStats]:
    """Every Pod the node has a sandbox for: its running containers, its volumes (unless
    `volumes` is False: cAdvisor has none) and its network interface."""
    out = []
    interfaces = net_dev(proc)
    for w in list(workers):
        if not getattr(w, "sandbox_ready", False):
            continue
        m = w.pod["metadata"]
        pod = PodStats(m.get("namespace") or "default", m["name"], w.uid,
                       w.start_time or m.get("creationTimestamp") or "")
        pod.containers = [_container(paths, w.pod, rec, cgroup_root)
                          for rec in w.records.values() if rec.running and rec.id]
        if volumes:
            pod.volumes = volume_stats(paths.pod_dir(w.uid), w.pod, store)
        host_end = interfaces.get(host_ifname(w.uid))
        pod.network = pod_interface(host_end) if host_end is not None else None
        out.append(pod)
    return out


def add_rates(pods: list[PodStats], usage: NodeUsage) -> None:
    """The CPU rates (nanocores) of the sampler onto the measured containers."""
    rates = {(p.namespace, p.name, c.name): c.cpu_nanocores for p in usage.pods
             for c in p.containers}
    for pod in pods:
        for c in pod.containers:
            c.nanocores = rates.get((pod.namespace, pod.name, c.name), 0)


# -- the Summary API ---------------------------------------------------------------------------
def _fs(capacity: int, available: int, used: int, inodes: int | None = None,
        inodes_free: int | None = None, inodes_used: int | None = None, now: str = "") -> Obj:
    out: Obj = {"time": now, "availableBytes": available, "capacityBytes": capacity,
                "usedBytes": used}
    if inodes is not None:
        out.update(inodesFree=inodes_free, inodes=inodes, inodesUsed=inodes_used)
    return out


def _cpu_memory(now: str, nanocores: int, cpu_ns: int | None, working_set: int | None,
                usage: int | None) -> tuple[Obj, Obj]:
    cpu: Obj = {"time": now, "usageNanoCores": nanocores}
    if cpu_ns is not None:
        cpu["usageCoreNanoSeconds"] = cpu_ns
    memory: Obj = {"time": now, "workingSetBytes": working_set or 0}
    if usage is not None:
        memory["usageBytes"] = usage
    return cpu, memory


def _volume(v: VolumeStats, now: str) -> Obj:
    out = {**_fs(v.capacity, v.available, v.used, v.inodes, v.inodes_free, v.inodes_used, now),
           "name": v.name}
    if v.claim is not None:
        out["pvcRef"] = {"name": v.claim[1], "namespace": v.claim[0]}
    return out


def _pod(p: PodStats, now: str, fs: os.statvfs_result) -> Obj:
    capacity, available = fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize
    containers = []
    for c in p.containers:
        cpu, memory = _cpu_memory(now, c.nanocores, c.cpu_ns, c.memory_working_set,
                                  c.memory_usage)
        containers.append({"name": c.name, "startTime": c.start_time, "cpu": cpu,
                           "memory": memory,
                           "rootfs": _fs(capacity, available, c.rootfs_used, now=now),
                           "logs": _fs(capacity, available, c.logs_used, now=now)})
    cpu, memory = _cpu_memory(now, sum(c.nanocores for c in p.containers),
                              sum(c.cpu_ns or 0 for c in p.containers),
                              sum(c.memory_working_set or 0 for c in p.containers),
                              sum(c.memory_usage or 0 for c in p.containers))
    ephemeral = sum(c.rootfs_used + c.logs_used for c in p.containers) + \
        sum(v.used for v in p.volumes if v.claim is None)
    return {"podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
            "startTime": p.start_time, "containers": containers, "cpu": cpu, "memory": memory,
            "volume": [_volume(v, now) for v in p.volumes],
            "ephemeral-storage": _fs(capacity, available, ephemeral, now=now)}


def summary(node_name: str, start_time: str, root: Path, usage: NodeUsage,
            pods: list[PodStats]) -> Obj:
    """statsapi.Summary: the node, then one PodStats per Pod."""
    now = meta.rfc3339(datetime.fromtimestamp(usage.timestamp, timezone.utc))
    fs = os.statvfs(root)
    cpu, memory = _cpu_memory(now, usage.cpu_nanocores, stats.node_cpu_usage_ns(),
                              usage.memory_bytes, None)
    node_fs = _fs(fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize,
                  (fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_files, fs.f_ffree,
                  fs.f_files - fs.f_ffree, now)
    return {"node": {"nodeName": node_name, "startTime": start_time, "cpu": cpu,
                     "memory": memory, "fs": node_fs,
                     "runtime": {"imageFs": node_fs, "containerFs": node_fs}},
            "pods": [_pod(p, now, fs) for p in pods]}


# -- cAdvisor and resource metrics -------------------------------------------------------------
class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition(families: list[Metric]) -> str:
    registry = CollectorRegistry(auto_describe=False)  # private, per scrape
    registry.register(_Families(families))
    return generate_latest(registry).decode()


def resource_text(pods: list[PodStats], usage: NodeUsage) -> str:
    """`/metrics/resource`: what metrics-server scrapes (node, Pod and container CPU and
    memory)."""
    labels = ["container", "namespace", "pod"]
    c_cpu = CounterMetricFamily("container_cpu_usage_seconds_total", "[STABLE] Cumulative cpu "
                                "time consumed by the container in core-seconds",
                                labels=labels)
    c_mem = GaugeMetricFamily("container_memory_working_set_bytes", "[STABLE] Current working "
                              "set of the container in bytes", labels=labels)
    p_cpu = CounterMetricFamily("pod_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time "
                                "consumed by the pod in core-seconds", labels=["namespace", "pod"])
    p_mem = GaugeMetricFamily("pod_memory_working_set_bytes", "[STABLE] Current working set "
                              "of the pod in bytes", labels=["namespace", "pod"])
    for p in pods:
        for c in p.containers:
            if c.cpu_ns is not None:
                c_cpu.add_metric([c.name, p.namespace, p.name], c.cpu_ns / 1e9)
            if c.memory_working_set is not None:
                c_mem.add_metric([c.name, p.namespace, p.name], c.memory_working_set)
        p_cpu.add_metric([p.namespace, p.name], sum(c.cpu_ns or 0 for c in p.containers) / 1e9)
        p_mem.add_metric([p.namespace, p.name],
                         sum(c.memory_working_set or 0 for c in p.containers))
    n_cpu = CounterMetricFamily("node_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time "
                                "consumed by the node in core-seconds")
    n_cpu.add_metric([], (stats.node_cpu_usage_ns() or 0) / 1e9)
    n_mem = GaugeMetricFamily("node_memory_working_set_bytes", "[STABLE] Current working set "
                              "of the node in bytes")
    n_mem.add_metric([], usage.memory_bytes)
    scrape = GaugeMetricFamily("resource_scrape_error", "[STABLE] 1 if there was an error "
                               "while getting container metrics, 0 otherwise")
    scrape.add_metric([], 0)
    return exposition([c_cpu, c_mem, n_cpu, n_mem, p_cpu, p_mem, scrape])
