"""The controllers' work-queue metrics, as client-go's queues report them in
kube-controller-manager (k8s.io/component-base/metrics/prometheus/workqueue): `workqueue_depth`,
`workqueue_adds_total`, `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds`,
`workqueue_retries_total`, `workqueue_unfinished_work_seconds` and
`workqueue_longest_running_processor_seconds`, each labelled with the queue's `name`.

podhost runs its controllers in the API server's process, so the API server's `/metrics` shows
them (`apiserver/servermetrics.py` collects `collector()`). The counters and histograms live in
one registry of this module (client-go's are process-wide too); the in-progress gauges are read
from the live queues when scraped.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

disable_created_metrics()  # type: ignore[no-untyped-call]  # client-go has no `_created`

# kube-controller-manager's queue names for podhost's controllers (Controller.name → name)
QUEUE_NAMES = {
    "deployment-controller": "deployment",
    "replicaset-controller": "replicaset",
    "statefulset-controller": "statefulset",
    "daemonset-controller": "daemonset",
    "job-controller": "job",
    "cronjob-controller": "cronjob",
    "endpointslice-controller": "endpoint_slice",
    "namespace-controller": "namespace",
    "garbage-collector": "garbage_collector_attempt_to_delete",
    "persistentvolume-binder-controller": "volumes",
    "ephemeral-volume-controller": "ephemeral_volume",
    "root-ca-cert-publisher": "root_ca_cert_publisher",
}
# ExponentialBuckets(10e-9, 10, 10): 10 ns … 10 s
BUCKETS = tuple(10e-9 * 10**i for i in range(10))

REGISTRY = CollectorRegistry(auto_describe=True)
ADDS = Counter("workqueue_adds", "[ALPHA] Total number of adds handled by workqueue", ["name"],
               registry=REGISTRY)
QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds", "[ALPHA] How long in seconds an item stays in workqueue "
    "before being requested.", ["name"], buckets=BUCKETS, registry=REGISTRY)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds", "[ALPHA] How long in seconds processing an item from "
    "workqueue takes.", ["name"], buckets=BUCKETS, registry=REGISTRY)
RETRIES = Counter("workqueue_retries", "[ALPHA] Total number of retries handled by workqueue",
                  ["name"], registry=REGISTRY)

_LIVE: weakref.WeakSet[QueueMetrics] = weakref.WeakSet()


def queue_name(controller: str) -> str:
    return QUEUE_NAMES.get(controller, controller.removesuffix("-controller").replace("-", "_"))


class QueueMetrics:
    """What one queue reports, called where client-go's queue calls its metrics provider."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.added_at: dict[str, float] = {}
        self.started_at: dict[str, float] = {}
        self.depth = 0
        for family in (ADDS, RETRIES):  # client-go's series exist from the start
            family.labels(name)
        _LIVE.add(self)

    def add(self, key: str) -> None:
        ADDS.labels(self.name).inc()
        self.depth += 1
        self.added_at.setdefault(key, time.monotonic())

    def get(self, key: str) -> None:
        now = time.monotonic()
        self.depth -= 1
        if (added := self.added_at.pop(key, None)) is not None:
            QUEUE_DURATION.labels(self.name).observe(now - added)
        self.started_at[key] = now

    def done(self, key: str) -> None:
        if (started := self.started_at.pop(key, None)) is not None:
            WORK_DURATION.labels(self.name).observe(time.monotonic() - started)

    def retry(self) -> None:
        RETRIES.labels(self.name).inc()


class _Live(Collector):
    """workqueue_depth, workqueue_unfinished_work_seconds and
    workqueue_longest_running_processor_seconds of the queues alive."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("workqueue_depth", "[ALPHA] Current depth of workqueue",
                                  labels=["name"])
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", "[ALPHA] How many seconds of work has done "
            "that is in progress and hasn't been observed by work_duration. Large values "
            "indicate stuck threads. One can deduce the number of stuck threads by observing "
            "the rate at which this increases.", labels=["name"])
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", "[ALPHA] How many seconds has the "
            "longest running processor for workqueue been running.", labels=["name"])
        now = time.monotonic()
        totals: dict[str, tuple[int, float, float]] = {}
        for queue in list(_LIVE):
            spans = [now - t for t in queue.started_at.values()]
            queued, total, top = totals.get(queue.name, (0, 0.0, 0.0))
            totals[queue.name] = (queued + queue.depth, total + sum(spans), max([top, *spans]))
        for name, (queued, total, top) in sorted(totals.items()):
            depth.add_metric([name], queued)
            unfinished.add_metric([name], total)
            longest.add_metric([name], top)
        yield depth
        yield unfinished
        yield longest


class _Families(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from _Live().collect()


def collector() -> Collector:
    """Every queue's families, for a registry that exposes them."""
    return _Families()
