"""The kubelet's own metrics (`/metrics`, `/metrics/probes`), under the names kubelet publishes
(pkg/kubelet/metrics/metrics.go, prober/prober.go), with the Prometheus client library and a
private registry per node (never the process-wide one).

The node's managers call the `NodeMetrics` they are given at their seams: the syncer when a
sandbox is made and a Pod first runs, the runtime manager when a container starts, the image
manager after a pull, the prober after each probe; `metrics_ops.py` has the operation
families (pod workers, runtime calls, relists, evictions, volume set-ups). Gauges (running
Pods and containers) are read from the Pod workers when scraped. The podhost names kept as
aliases (`podhost_emptydir_*`, `podhost_running_pods`) are added by `streaming.py` and
`kubelet_volume_stats_*` by `endpoints.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podhost.node.metrics_ops import OperationMetrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # kubelet has no `_created`

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# kubelet's buckets: pod start 0.5 s … 3600 s, image pulls by size
POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360,
                     480, 600, 900, 1200, 1800, 2700, 3600)
IMAGE_PULL_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360,
                      480, 600, 900, 1200, 1800, 2700, 3600)
_SIZE_BUCKETS = ((10, "0-10MB"), (100, "10MB-100MB"), (500, "100MB-500MB"), (1000, "500MB-1GB"),
                 (5000, "1GB-5GB"), (10000, "5GB-10GB"), (20000, "10GB-20GB"),
                 (30000, "20GB-30GB"), (40000, "30GB-40GB"), (60000, "40GB-60GB"),
                 (100000, "60GB-100GB"))
CONTAINER_STATES = ("created", "running", "exited", "unknown")


def image_size_bucket(size: int) -> str:
    """kubelet's `image_size_in_bytes` label (getImageSizeBucket): a range in MB."""
    mb = size / 1_000_000
    return next((label for limit, label in _SIZE_BUCKETS if mb < limit), "GT100GB")


def container_type(init: bool, ephemeral: bool) -> str:
    return "ephemeral_container" if ephemeral else "init_container" if init else "container"


def container_state(rec: Any) -> str:
    """kubecontainer.State of a record: running, exited (ended), created (made, not yet
    started) or unknown."""
    if getattr(rec, "running", False):
        return "running"
    if getattr(rec, "exit_code", None) is not None:
        return "exited"
    return "created" if getattr(rec, "id", None) else "unknown"


class RunningCollector(Collector):
    """kubelet_running_pods and kubelet_running_containers{container_state}, read from the
    workers at scrape time (kubelet's runningPodsCollector)."""

    def __init__(self, workers: Callable[[], Iterable[Any]]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        workers = list(self.workers())
        pods = GaugeMetricFamily("kubelet_running_pods",
                                 "[ALPHA] Number of pods that have a running pod sandbox")
        pods.add_metric([], sum(1 for w in workers if getattr(w, "sandbox_ready", False)))
        counts = dict.fromkeys(CONTAINER_STATES, 0)
        for w in workers:
            for rec in getattr(w, "records", {}).values():
                if getattr(rec, "id", None) or getattr(rec, "exit_code", None) is not None:
                    counts[container_state(rec)] += 1
        containers = GaugeMetricFamily("kubelet_running_containers",
                                       "[ALPHA] Number of containers currently running",
                                       labels=["container_state"])
        for state, n in counts.items():
            containers.add_metric([state], n)
        yield pods
        yield containers


class NodeMetrics:
    """The kubelet's registries and the calls its managers make at their seams."""

    def __init__(self, workers: Callable[[], Iterable[Any]] = tuple, node_name: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.probes_registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pod_start = Histogram(
            "kubelet_pod_start_duration_seconds", "[ALPHA] Duration in seconds from kubelet "
            "seeing a pod for the first time to the pod starting to run",
            buckets=POD_START_BUCKETS, registry=r)
        self.pod_start_sli = Histogram(
            "kubelet_pod_start_sli_duration_seconds", "[BETA] Duration in seconds to start a "
            "pod, excluding time to pull images and run init containers, measured from pod "
            "creation timestamp to when all its containers are reported as started and "
            "observed via watch", buckets=POD_START_BUCKETS, registry=r)
        self.started_pods = Counter("kubelet_started_pods", "[ALPHA] Cumulative number of "
                                    "pods started", registry=r)
        self.started_pods_errors = Counter("kubelet_started_pods_errors", "[ALPHA] Cumulative "
                                           "number of errors when starting pods", registry=r)
        self.started_containers = Counter(
            "kubelet_started_containers", "[ALPHA] Cumulative number of containers started",
            ["container_type"], registry=r)
        self.started_containers_errors = Counter(
            "kubelet_started_containers_errors", "[ALPHA] Cumulative number of errors when "
            "starting containers", ["code", "container_type"], registry=r)
        self.image_pull = Histogram(
            "kubelet_image_pull_duration_seconds", "[ALPHA] Duration in seconds to pull an "
            "image.", ["image_size_in_bytes"], buckets=IMAGE_PULL_BUCKETS, registry=r)
        r.register(RunningCollector(workers))
        self.ops = OperationMetrics(r, node_name, workers)  # runtime, PLEG, volumes, evictions
        ProcessCollector(registry=r)
        self.probes = Counter("prober_probe", "[ALPHA] Cumulative number of a liveness, "
                              "readiness or startup probe for a container by result.",
                              ["probe_type", "result", "container", "pod", "namespace",
                               "pod_uid"], registry=self.probes_registry)
        self.first_seen: dict[str, float] = {}  # uid → monotonic time of the first sync
        self.pull_seconds: dict[str, float] = {}  # uid → seconds spent pulling its images
        self.observed: set[str] = set()  # uids whose start was observed

    # -- the seams ------------------------------------------------------------------------
    def pod_seen(self, uid: str, running: bool = False) -> None:
        """A sync of the Pod; one already running when first seen (adopted after a restart of
        the node) is not a start."""
        if uid not in self.first_seen:
            self.first_seen[uid] = time.monotonic()
            if running:
                self.observed.add(uid)

    def pod_running(self, uid: str, created: float | None = None) -> None:
        """Once per Pod: its start duration, from the first sync (and the SLI, from its
        creation, without image pulls)."""
        if uid in self.observed or uid not in self.first_seen:
            return
        self.observed.add(uid)
        took = time.monotonic() - self.first_seen[uid]
        self.pod_start.observe(took)
        since_created = took if created is None else max(time.time() - created, took)
        self.pod_start_sli.observe(max(since_created - self.pull_seconds.get(uid, 0.0), 0.0))

    def sandbox_started(self, ok: bool) -> None:
        (self.started_pods if ok else self.started_pods_errors).inc()

    def container_started(self, init: bool, ephemeral: bool) -> None:
        self.started_containers.labels(container_type(init, ephemeral)).inc()

    def container_failed(self, init: bool, ephemeral: bool, code: str) -> None:
        self.started_containers_errors.labels(code, container_type(init, ephemeral)).inc()

    def image_pulled(self, uid: str, seconds: float, size: int) -> None:
        self.image_pull.labels(image_size_bucket(size)).observe(seconds)
        self.pull_seconds[uid] = self.pull_seconds.get(uid, 0.0) + seconds

    def probed(self, kind: str, ok: bool | None, container: str, pod: dict[str, Any]) -> None:
        m = pod.get("metadata") or {}
        result = "unknown" if ok is None else "successful" if ok else "failed"
        self.probes.labels(kind.lower(), result, container, m.get("name", ""),
                           m.get("namespace", ""), m.get("uid", "")).inc()

    def forget(self, uid: str) -> None:
        for table in (self.first_seen, self.pull_seconds):
            table.pop(uid, None)
        self.observed.discard(uid)

    # -- exposition -----------------------------------------------------------------------
    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def probes_text(self) -> str:
        return generate_latest(self.probes_registry).decode()


# managers made without a node (unit tests) count into this one, never scraped
DETACHED = NodeMetrics()
