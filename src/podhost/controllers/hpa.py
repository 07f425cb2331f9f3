"""The horizontal Pod autoscaler controller (pkg/controller/podautoscaler/horizontal.go):
every sync period it reads each autoscaler's target through its scale, the usage of the
target's Pods from the node's resource metrics (the same data metrics.k8s.io serves, handed
in as a `UsageSource`: controllers do not import the node), proposes a replica count per
metric (api/hpacalc), stabilizes and rate-limits it (api/hpabehavior), writes the target's
replicas and the autoscaler's status (currentMetrics, conditions AbleToScale, ScalingActive,
ScalingLimited), with upstream's events."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from podhost.api import errors, hpacalc, meta, quantity, registry, selectors, workloads
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.hpabehavior import History, normalize
from podhost.api.nodeapi import NodeUsage
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers import events
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client

RESOURCE = "horizontalpodautoscalers"
KIND = "HorizontalPodAutoscaler"


class UsageSource(Protocol):
    async def usage(self) -> NodeUsage:
        """CPU and memory of every Pod with running containers (metrics.k8s.io's data)."""


@dataclass(frozen=True)
class Settings:
    sync_period: float = 15.0  # --horizontal-pod-autoscaler-sync-period
    downscale_window: float = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
    tolerance: float = hpacalc.TOLERANCE


class Failure(Exception):
    """A metric failed: the ScalingActive reason and the message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def condition(status: Obj, kind: str, state: str, reason: str, message: str, now: str) -> None:
    conds = status.setdefault("conditions", [])
    old = next((c for c in conds if c.get("type") == kind), None)
    new = {"type": kind, "status": state, "lastTransitionTime": now, "reason": reason,
           "message": message}
    if old is not None and old.get("status") == state:
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
    status["conditions"] = [c for c in conds if c.get("type") != kind] + [new]


def scale_of(resource: str, target: Obj) -> Obj:
    """The target's Scale: a workload's, or a custom resource's from its CRD's paths."""
    custom = custom_resources.get(resource)
    return custom.scale_of(target) if custom is not None else workloads.scale_of(target)


def apply_scale(resource: str, target: Obj, replicas: int) -> Obj:
    custom = custom_resources.get(resource)
    scale = {"spec": {"replicas": replicas}}
    return custom.apply_scale(target, scale) if custom is not None else \
        workloads.apply_scale(target, scale)


def _metric_name(spec: Obj) -> str:
    src = spec.get("resource") or spec.get("containerResource") or {}
    name = src.get("name", "")
    util = (src.get("target") or {}).get("averageValue") is None
    if spec.get("type") == "ContainerResource":
        return f"{name} container resource" + (" utilization (percentage of request)"
                                                if util else "")
    return f"{name} resource" + (" utilization (percentage of request)" if util else "")


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(self, store: ObjectStore | Client, source: UsageSource,
                 settings: Settings | None = None) -> None:
        super().__init__(store)
        self.source, self.settings = source, settings or Settings()
        self.usage: NodeUsage | None = None
        self.histories: dict[str, History] = {}

    def watches(self) -> list[Watch]:
        return [Watch(RESOURCE, w.own_key)]

    async def run(self) -> None:
        ticker = asyncio.ensure_future(self._tick())
        try:
            await super().run()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick(self) -> None:
        """Every sync period: fresh usage, and every autoscaler queued."""
        while True:
            with contextlib.suppress(Exception):
                self.usage = await self.source.usage()
            for hpa in self.store.list(RESOURCE, None)[0]:
                self.queue.add(w.key_of(hpa))
            await asyncio.sleep(self.settings.sync_period)

    def reconcile(self, key: str) -> float | None:
        hpa = w.get(self.store, RESOURCE, key)
        if hpa is None:
            self.histories.pop(key, None)
            return None
        if self.usage is None:
            return None  # the ticker queues it again with the first usage
        status = copy.deepcopy(hpa.get("status") or {})
        self._reconcile(hpa, status, meta.now())
        w.write_status(self.store, RESOURCE, hpa, status)
        return None

    # -- one autoscaler ---------------------------------------------------------------------
    def _target(self, hpa: Obj) -> tuple[str, Obj]:
        ref = hpa["spec"].get("scaleTargetRef") or {}
        found = registry.by_kind(str(ref.get("kind")), ref.get("apiVersion") or None)
        if found is None or found.subresource("scale") is None:
            raise errors.NotFoundError(f'no matches for kind "{ref.get("kind")}" in group '
                                       f'"{str(ref.get("apiVersion", "")).rpartition("/")[0]}"')
        return found.name, self.store.get(found.name, hpa["metadata"]["namespace"],
                                          str(ref.get("name")))

    def _reconcile(self, hpa: Obj, status: Obj, now: datetime) -> None:
        stamp = meta.rfc3339(now)
        spec = hpa["spec"]
        try:
            resource, target = self._target(hpa)
        except errors.ApiError as e:
            message = f"the HPA controller was unable to get the target's current scale: {e}"
            condition(status, "AbleToScale", "False", "FailedGetScale", message, stamp)
            self._event(hpa, "Warning", "FailedGetScale", str(e))
            return
        scale = scale_of(resource, target)
        current = int(scale["spec"]["replicas"])
        status.update(observedGeneration=hpa["metadata"].get("generation", 1),
                      currentReplicas=int(scale["status"]["replicas"]))
        condition(status, "AbleToScale", "True", "SucceededGetScale",
                  "the HPA controller was able to get the target's current scale", stamp)
        low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        reason = ""
        if current == 0 and low != 0:
            desired = 0
            condition(status, "ScalingActive", "False", "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero",
                      stamp)
        elif current > high:
            desired, reason = high, "Current number of replicas above Spec.MaxReplicas"
        elif current < low:
            desired, reason = low, "Current number of replicas below Spec.MinReplicas"
        else:
            found = self._proposal(hpa, scale, current, status, now)
            if found is None:
                status["desiredReplicas"] = current
                return
            proposal, name = found
            history = self.histories.setdefault(w.key_of(hpa), History())
            outcome = normalize(spec, history, current, proposal, now,
                                self.settings.downscale_window)
            desired = outcome.replicas
            condition(status, "AbleToScale", "True", *outcome.able, stamp)
            condition(status, "ScalingLimited", "True" if outcome.limited else "False",
                      *outcome.limit, stamp)
            reason = f"{name} above target" if desired > current else "All metrics below target"
        status["desiredReplicas"] = desired
        if desired != current:
            self._rescale(hpa, resource, target, current, desired, reason, status, now)

    def _rescale(self, hpa: Obj, resource: str, target: Obj, current: int, desired: int,
                 reason: str, status: Obj, now: datetime) -> None:
        stamp = meta.rfc3339(now)
        try:  # through the scale subresource's rules, as the scale client writes
            self.store.update(resource, apply_scale(resource, target, desired),
                              expected_rv=target["metadata"].get("resourceVersion"))
        except errors.ApiError as e:
            condition(status, "AbleToScale", "False", "FailedUpdateScale",
                      f"the HPA controller was unable to update the target scale: {e}", stamp)
            self._event(hpa, "Warning", "FailedRescale",
                        f"New size: {desired}; reason: {reason}; error: {e}")
            return
        condition(status, "AbleToScale", "True", "SucceededRescale",
                  f"the HPA controller was able to update the target scale to {desired}", stamp)
        self._event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        if isinstance(hpa["spec"].get("behavior"), dict):
            self.histories.setdefault(w.key_of(hpa), History()).record_scale(current, desired,
                                                                             now)
        status["lastScaleTime"] = stamp

    def _proposal(self, hpa: Obj, scale: Obj, current: int, status: Obj,
                  now: datetime) -> tuple[int, str] | None:
        """computeReplicasForMetrics: the largest proposal over the metrics, their current
        values; None (ScalingActive False) when no metric gave one."""
        stamp = meta.rfc3339(now)
        best: tuple[int, str] | None = None
        current_metrics, first_error = [], None
        for spec in hpa["spec"].get("metrics") or []:
            try:
                replicas, metric_status = self._one_metric(hpa, scale, spec, current, now)
            except Failure as e:
                first_error = first_error or e
                current_metrics.append({"type": ""})
                continue
            current_metrics.append(metric_status)
            if best is None or replicas > best[0]:
                best = (replicas, _metric_name(spec))
        status["currentMetrics"] = current_metrics if best is not None else None
        if status["currentMetrics"] is None:
            status.pop("currentMetrics")
        if best is None:
            failed = first_error or Failure("FailedGetResourceMetric", "no metrics")
            condition(status, "ScalingActive", "False", failed.reason,
                      f"the HPA was unable to compute the replica count: {failed.message}",
                      stamp)
            self._event(hpa, "Warning", failed.reason, failed.message)
            return None
        condition(status, "ScalingActive", "True", "ValidMetricFound",
                  f"the HPA was able to successfully calculate a replica count from {best[1]}",
                  stamp)
        return best

    def _one_metric(self, hpa: Obj, scale: Obj, spec: Obj, current: int,
                    now: datetime) -> tuple[int, Obj]:
        kind = spec.get("type")
        if kind not in ("Resource", "ContainerResource"):
            reason = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                      "External": "FailedGetExternalMetric"}.get(str(kind),
                                                                 "InvalidMetricSourceType")
            raise Failure(reason, f"unable to get metric of type {kind}: podhost serves the "
                          "resource metrics API only (no custom or external metrics API)")
        key = "resource" if kind == "Resource" else "containerResource"
        src = spec[key]
        name, target = src["name"], src.get("target") or {}
        container = src.get("container") if kind == "ContainerResource" else None
        pods = self._pods(hpa, scale)
        try:
            metrics = self._metrics(hpa["metadata"]["namespace"], name, container)
            if not metrics:
                raise hpacalc.MetricError(f"unable to get metrics for resource {name}: no "
                                          "metrics returned from resource metrics API")
            if target.get("averageValue") is not None:
                goal = round(quantity.parse(str(target["averageValue"])) * 1000)
                found = hpacalc.replicas_for(current, pods, metrics, name, goal, None, now,
                                             self.settings.tolerance)
                current_value: Obj = {"averageValue": quantity.canonical(f"{found.average}m")}
            else:
                requests = {p["metadata"]["name"]: hpacalc.pod_request(p, name, container)
                            for p in pods}
                goal = int(target.get("averageUtilization") or 0)
                found = hpacalc.replicas_for(current, pods, metrics, name, goal, requests, now,
                                             self.settings.tolerance)
                current_value = {"averageUtilization": found.utilization,
                                 "averageValue": quantity.canonical(f"{found.average}m")}
        except hpacalc.MetricError as e:
            what = "utilization" if target.get("averageValue") is None else "usage"
            raise Failure("FailedGetResourceMetric" if kind == "Resource" else
                          "FailedGetContainerResourceMetric",
                          f"failed to get {name} {what}: {e}") from None
        status = {"name": name, "current": current_value}
        if container is not None:
            status["container"] = container
        return found.replicas, {"type": kind, key: status}

    def _pods(self, hpa: Obj, scale: Obj) -> list[Obj]:
        selector = scale["status"].get("selector") or ""
        if not selector:
            raise Failure("InvalidSelector", "selector is required")
        match = selectors.matcher(selector, None)
        return self.store.list("pods", hpa["metadata"]["namespace"], match)[0]

    def _metrics(self, ns: str, compute: str,
                 container: str | None) -> dict[str, hpacalc.PodMetric]:
        """The Pods' usage in milli-units, as the resource metrics client reads it."""
        found = {}
        for pod in (self.usage.pods if self.usage is not None else []):
            if pod.namespace != ns:
                continue
            used = [c for c in pod.containers if container is None or c.name == container]
            if not used:
                continue
            value = sum(c.cpu_nanocores // 1_000_000 if compute == "cpu" else
                        c.memory_bytes * 1000 for c in used)
            found[pod.name] = hpacalc.PodMetric(
                value, datetime.fromtimestamp(pod.timestamp, timezone.utc), pod.window)
        return found

    def _event(self, hpa: Obj, kind: str, reason: str, message: str) -> None:
        events.record(self.store, self.name, {**hpa, "kind": KIND}, reason, message, kind)
