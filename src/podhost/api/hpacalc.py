"""The HorizontalPodAutoscaler's arithmetic, pure (pkg/controller/podautoscaler:
replica_calculator.go and horizontal.go): replicas for a resource metric (utilization of the
requests, or an average value) with the tolerance, missing metrics and not-ready Pods, then
the stabilization windows and scaling policies (`behavior`, or the defaults without one)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from podhost.api import meta, quantity
from podhost.api.types import Obj

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
INITIAL_READINESS_DELAY = timedelta(seconds=30)


class MetricError(Exception):
    """The replica count cannot be computed from this metric."""


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units: millicores, or milli-bytes as upstream's MilliValue
    timestamp: datetime
    window: float  # seconds


def _ready_condition(pod: Obj) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"), None)


def _unready_cpu(pod: Obj, metric: PodMetric, now: datetime) -> bool:
    """groupPods for CPU: a Pod still starting (or never ready) is left out of scaling up."""
    cond = _ready_condition(pod)
    start = (pod.get("status") or {}).get("startTime")
    if cond is None or not start:
        return True
    started = meta.parse_time(start)
    changed = meta.parse_time(cond["lastTransitionTime"]) if cond.get("lastTransitionTime") \
        else started
    if started + CPU_INITIALIZATION_PERIOD > now:
        return cond.get("status") != "True" or \
            metric.timestamp < changed + timedelta(seconds=metric.window)
    return cond.get("status") != "True" and started + INITIAL_READINESS_DELAY < changed


def group_pods(pods: Sequence[Obj], metrics: dict[str, PodMetric], compute: str,
               now: datetime) -> tuple[int, set[str], set[str], set[str]]:
    """(ready Pods with a metric, unready, missing, ignored) names; `compute`: the metric's
    resource name (cpu, memory)."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
        elif phase == "Pending":
            unready.add(name)
        elif name not in metrics:
            missing.add(name)
        elif compute == "cpu" and _unready_cpu(pod, metrics[name], now):
            unready.add(name)
        else:
            ready += 1
    return ready, unready, missing, ignored


def pod_request(pod: Obj, resource: str, container: str | None = None) -> int:
    """calculatePodRequests: the Pod's request of `resource` in milli-units (one container's
    for a ContainerResource metric); MetricError when a container has none."""
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        if container is not None and c.get("name") != container:
            continue
        value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if value is None:
            raise MetricError(f"missing request for {resource} in container {c.get('name')} "
                              f"of Pod {pod['metadata']['name']}")
        total += round(quantity.parse(str(value)) * 1000)
    return total


@dataclass(frozen=True)
class Proposal:
    replicas: int
    utilization: int | None  # percent of the requests, for Utilization targets
    average: int  # milli-units per Pod


def _ratio(metrics: dict[str, PodMetric], requests: dict[str, int] | None,
           target: int) -> tuple[float, int | None, int]:
    """(usage ratio, utilization %, average milli-value) of the Pods in `metrics`."""
    total = sum(m.value for m in metrics.values())
    average = total // len(metrics) if metrics else 0
    if requests is None:
        return (average / target if target else 0.0), None, average
    requested = sum(requests[n] for n in metrics)
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = int(total * 100 / requested)
    return utilization / target, utilization, average


def replicas_for(current: int, pods: Sequence[Obj], metrics: dict[str, PodMetric],
                 resource: str, target: int, requests: dict[str, int] | None,
                 now: datetime, tolerance: float = TOLERANCE) -> Proposal:
    """GetResourceReplicas (requests given: `target` a utilization %) or GetRawResource
    Replicas (no requests: `target` an average in milli-units)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, now)
    names = {p["metadata"]["name"] for p in pods}
    used = {n: m for n, m in metrics.items() if n in names and n not in unready
            and n not in ignored}
    if not used:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, utilization, average = _ratio(used, requests, target)
    up_with_unready = bool(unready) and ratio > 1.0
    if not up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, utilization, average)
        return Proposal(math.ceil(ratio * ready), utilization, average)
    filled = dict(used)
    for name in missing:
        if ratio < 1.0:  # scaling down: as if at the target (all of the request, or more)
            value = requests.get(name, 0) * max(100, target) // 100 if requests is not None \
                else target
        else:  # scaling up: as if idle
            value = 0
        filled[name] = PodMetric(value, now, 0)
    if up_with_unready:
        for name in unready:
            filled[name] = PodMetric(0, now, 0)
    new_ratio, _, _ = _ratio(filled, requests, target)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or \
            (ratio > 1.0 > new_ratio):
        return Proposal(current, utilization, average)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Proposal(current, utilization, average)
    return Proposal(replicas, utilization, average)
