"""The kubelet's operation metrics, under kubelet's names (pkg/kubelet/metrics/metrics.go,
pkg/volume/util/metrics.go, pkg/kubelet/volumemanager/metrics): `kubelet_node_name`,
`kubelet_pod_worker_duration_seconds`, `kubelet_runtime_operations_total` /
`_duration_seconds` / `_errors_total`, `kubelet_pleg_relist_duration_seconds` /
`_interval_seconds`, `kubelet_evictions`, `storage_operation_duration_seconds` and
`volume_manager_total_volumes`.

podhost has no CRI between the kubelet and the runtime: the runtime's calls are timed where the
node makes them (`instrument_runtime` wraps the runtime's methods, named as the CRI calls they
stand for); the PLEG's relist is the exit poll (`node/exits.py`), which lists the containers
that ended.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podhost.images.puller import PullProgress

DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
RUNTIME_BUCKETS = tuple(0.005 * 2.5**i for i in range(14))  # ExponentialBuckets(.005, 2.5, 14)
STORAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600)
# the runtime's methods and the CRI calls kubelet counts them as
RUNTIME_OPERATIONS = {"create": "create_container", "start": "start_container",
                      "stop": "stop_container", "delete": "remove_container",
                      "state": "container_status", "exec": "exec", "list": "list_containers",
                      "exited": "list_containers"}
EMPTY_DIR_LIMIT = "emptydirfs.limit"  # kubelet's signalEmptyDirFsLimit
_PLUGINS = (("emptyDir", "kubernetes.io/empty-dir"), ("configMap", "kubernetes.io/configmap"),
            ("secret", "kubernetes.io/secret"), ("projected", "kubernetes.io/projected"),
            ("downwardAPI", "kubernetes.io/downward-api"),
            ("hostPath", "kubernetes.io/host-path"), ("image", "kubernetes.io/image"),
            ("persistentVolumeClaim", "kubernetes.io/local-volume"),
            ("ephemeral", "kubernetes.io/local-volume"))


def plugin_name(volume: dict[str, Any]) -> str:
    """The kubelet volume plugin of a Pod volume (podhost's claims are local volumes)."""
    return next((name for key, name in _PLUGINS if volume.get(key) is not None), "")


class VolumeCollector(Collector):
    """volume_manager_total_volumes{plugin_name,state}: the volumes the Pods ask for (desired)
    and those of the Pods whose sandbox is up, mounted (actual)."""

    def __init__(self, workers: Callable[[], Iterable[Any]]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        desired: Tally[str] = Tally()
        actual: Tally[str] = Tally()
        for w in list(self.workers()):
            if getattr(w, "terminated", False):
                continue
            for volume in (w.pod.get("spec") or {}).get("volumes") or []:
                plugin = plugin_name(volume)
                desired[plugin] += 1
                if getattr(w, "sandbox_ready", False):
                    actual[plugin] += 1
        family = GaugeMetricFamily("volume_manager_total_volumes", "[ALPHA] Number of volumes "
                                   "in Volume Manager", labels=["plugin_name", "state"])
        for state, tally in (("actual_state_of_world", actual),
                             ("desired_state_of_world", desired)):
            for plugin, n in sorted(tally.items()):
                family.add_metric([plugin, state], n)
        yield family


class PullTracker(PullProgress):
    """How far one image's pull has got, for the dashboard (`podhost/pulls` through the node
    proxy): bytes downloaded of the layers to download, then unpacking."""

    def __init__(self, image: str) -> None:
        self.image, self.phase = image, "resolving"
        self.layers: dict[str, tuple[int, int]] = {}  # digest -> (done, total)

    def resolved(self, ref: str, source: str, layers: list[Any]) -> None:
        self.phase = "downloading"
        self.layers = {d.digest: (0, int(d.size)) for d in layers}

    def layer(self, digest: str, done: int, total: int) -> None:
        self.layers[digest] = (done, total)

    def unpacking(self) -> None:
        self.phase = "unpacking"

    def state(self) -> dict[str, Any]:
        return {"image": self.image, "phase": self.phase,
                "downloadedBytes": sum(d for d, _ in self.layers.values()),
                "totalBytes": sum(t for _, t in self.layers.values()),
                "layers": len(self.layers)}


class OperationMetrics:
    """The families, on the node's registry, and what the node's seams call."""

    def __init__(self, r: CollectorRegistry, node_name: str,
                 workers: Callable[[], Iterable[Any]]) -> None:
        Gauge("kubelet_node_name", "[ALPHA] The node's name. The count is always 1.", ["node"],
              registry=r).labels(node_name).set(1)
        self.pod_worker = Histogram(
            "kubelet_pod_worker_duration_seconds", "[ALPHA] Duration in seconds to sync a "
            "single pod. Broken down by operation type: create, update, or sync",
            ["operation_type"], buckets=DEF_BUCKETS, registry=r)
        self.runtime_ops = Counter(
            "kubelet_runtime_operations", "[ALPHA] Cumulative number of runtime operations by "
            "operation type.", ["operation_type"], registry=r)
        self.runtime_duration = Histogram(
            "kubelet_runtime_operations_duration_seconds", "[ALPHA] Duration in seconds of "
            "runtime operations. Broken down by operation type.", ["operation_type"],
            buckets=RUNTIME_BUCKETS, registry=r)
        self.runtime_errors = Counter(
            "kubelet_runtime_operations_errors", "[ALPHA] Cumulative number of runtime "
            "operation errors by operation type.", ["operation_type"], registry=r)
        self.relist = Histogram("kubelet_pleg_relist_duration_seconds", "[ALPHA] Duration in "
                                "seconds for relisting pods in PLEG.", buckets=DEF_BUCKETS,
                                registry=r)
        self.relist_interval = Histogram(
            "kubelet_pleg_relist_interval_seconds", "[ALPHA] Interval in seconds between "
            "relisting in PLEG.", buckets=DEF_BUCKETS, registry=r)
        self.evictions = Counter("kubelet_evictions", "[ALPHA] Cumulative number of pod "
                                 "evictions by eviction signal", ["eviction_signal"],
                                 registry=r)
        self.storage = Histogram(
            "storage_operation_duration_seconds", "[ALPHA] Storage operation duration",
            ["volume_plugin", "operation_name", "status", "migrated"],
            buckets=STORAGE_BUCKETS, registry=r)
        r.register(VolumeCollector(workers))
        self.last_relist: float | None = None
        self.pulls: dict[str, PullTracker] = {}  # image -> the pull under way

    @contextlib.contextmanager
    def pulling(self, image: str) -> Iterator[PullTracker]:
        """A pull of `image` under way (shown while it lasts)."""
        tracker = self.pulls[image] = PullTracker(image)
        try:
            yield tracker
        finally:
            if self.pulls.get(image) is tracker:
                del self.pulls[image]

    def pod_synced(self, operation: str, seconds: float) -> None:
        self.pod_worker.labels(operation).observe(seconds)

    def runtime(self, operation: str, seconds: float, ok: bool = True) -> None:
        self.runtime_ops.labels(operation).inc()
        self.runtime_duration.labels(operation).observe(seconds)
        if not ok:
            self.runtime_errors.labels(operation).inc()

    @contextlib.contextmanager
    def timing(self, operation: str) -> Iterator[None]:
        """Count and time a runtime operation (an error when it raises)."""
        started = time.monotonic()
        try:
            yield
        except Exception:
            self.runtime(operation, time.monotonic() - started, ok=False)
            raise
        self.runtime(operation, time.monotonic() - started)

    def relisted(self, started: float, seconds: float) -> None:
        """One relist, begun at `started` (monotonic), which took `seconds`."""
        if self.last_relist is not None:
            self.relist_interval.observe(started - self.last_relist)
        self.last_relist = started
        self.relist.observe(seconds)

    def evicted(self, signal: str = EMPTY_DIR_LIMIT) -> None:
        self.evictions.labels(signal).inc()

    def volume_operation(self, volume: dict[str, Any], operation: str, seconds: float,
                         ok: bool) -> None:
        self.storage.labels(plugin_name(volume), operation, "success" if ok else "fail-unknown",
                            "false").observe(seconds)


def _timed(fn: Callable[..., Any], operation: str, ops: OperationMetrics) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            with ops.timing(operation):
                return await fn(*args, **kwargs)
        return timed_async

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with ops.timing(operation):
            return fn(*args, **kwargs)
    return timed


def instrument_runtime(runtime: Any, ops: OperationMetrics) -> None:
    """Time the runtime's calls as kubelet times its CRI calls (on this runtime object)."""
    for method, operation in RUNTIME_OPERATIONS.items():
        fn = getattr(runtime, method, None)
        if callable(fn):
            setattr(runtime, method, _timed(fn, operation, ops))
