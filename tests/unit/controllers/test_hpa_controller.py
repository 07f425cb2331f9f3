"""The horizontal Pod autoscaler controller over a real Store and registry, with a fake
usage source: it scales a Deployment up under load through its replicas, reports its
conditions and events, and says why when it cannot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from podhost.api.nodeapi import ContainerUsage, NodeUsage, PodUsage
from podhost.api.types import Obj
from podhost.controllers import hpa
from podhost.controllers.controller import MANAGER
from podhost.controllers.hpa import HorizontalPodAutoscalerController
from podhost.registry.client import Client
from podhost.registry.generic import Registry
from tests.unit.controllers.test_workload_controllers import store_with_ns

LONG_AGO = "2026-01-01T00:00:00Z"


class Usage:
    def __init__(self) -> None:
        self.cpu: dict[str, int] = {}

    async def usage(self) -> NodeUsage:
        return self.snapshot()

    def snapshot(self) -> NodeUsage:
        now = time.time()
        return NodeUsage(0, 0, now, 15, [PodUsage("default", n, [ContainerUsage("c", v, 1)],
                                                  now, 15) for n, v in self.cpu.items()])


def setup(tmp_path: Path) -> tuple[Client, HorizontalPodAutoscalerController, Usage]:
    client = Client(Registry(store_with_ns(tmp_path)), MANAGER)
    client.create("deployments", {"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}]}}}})
    for name in ("a", "b"):
        pod = client.create("pods", {"metadata": {"name": name, "namespace": "default",
                                                  "labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "busybox",
                                              "resources": {"requests": {"cpu": "100m"}}}]}})
        pod["status"] = {"phase": "Running", "startTime": LONG_AGO, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": LONG_AGO}]}
        client.store.update("pods", pod)
    client.create("horizontalpodautoscalers", {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web"}, "maxReplicas": 5, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}]}})
    usage = Usage()
    return client, HorizontalPodAutoscalerController(client, usage), usage


def conditions(hpa: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in hpa["status"]["conditions"]}


def test_scales_up_under_load(tmp_path: Path) -> None:
    client, controller, usage = setup(tmp_path)
    usage.cpu = {"a": 100_000_000, "b": 100_000_000}  # 100m each: 100% of the request
    controller.usage = usage.snapshot()
    controller.reconcile("default/web")
    assert client.get("deployments", "default", "web")["spec"]["replicas"] == 4
    hpa = client.get("horizontalpodautoscalers", "default", "web")
    assert hpa["status"]["desiredReplicas"] == 4 and hpa["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 100, "averageValue": "100m"}}}]
    assert conditions(hpa) == {"AbleToScale": ("True", "SucceededRescale"),
                               "ScalingActive": ("True", "ValidMetricFound"),
                               "ScalingLimited": ("False", "DesiredWithinRange")}
    assert hpa["status"].get("lastScaleTime")
    events = [e for e in client.list("events", "default")[0]
              if e["reason"] == "SuccessfulRescale"]
    assert events[0]["message"] == ("New size: 4; reason: cpu resource utilization "
                                    "(percentage of request) above target")


def test_no_metrics_and_missing_target(tmp_path: Path) -> None:
    client, controller, usage = setup(tmp_path)
    controller.usage = usage.snapshot()  # no Pod has a metric yet
    controller.reconcile("default/web")
    hpa = client.get("horizontalpodautoscalers", "default", "web")
    assert conditions(hpa)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    message = next(c["message"] for c in hpa["status"]["conditions"]
                   if c["type"] == "ScalingActive")
    assert message == ("the HPA was unable to compute the replica count: failed to get cpu "
                       "utilization: unable to get metrics for resource cpu: no metrics "
                       "returned from resource metrics API")
    assert client.get("deployments", "default", "web")["spec"]["replicas"] == 2
    client.registry.delete("deployments", "default", "web")
    controller.reconcile("default/web")
    hpa = client.get("horizontalpodautoscalers", "default", "web")
    assert conditions(hpa)["AbleToScale"] == ("False", "FailedGetScale")


def test_custom_resource_scale_goes_through_its_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    class Custom:  # a CRD's scale subresource: spec.size
        def scale_of(self, obj: Obj) -> Obj:
            return {"spec": {"replicas": obj["spec"]["size"]}, "status": {"replicas": 0}}

        def apply_scale(self, obj: Obj, scale: Obj) -> Obj:
            return {**obj, "spec": {"size": scale["spec"]["replicas"]}}

    monkeypatch.setattr(hpa.custom_resources, "get",
                        lambda r: Custom() if r == "widgets" else None)
    widget: Obj = {"metadata": {"name": "w"}, "spec": {"size": 2}}
    assert hpa.scale_of("widgets", widget)["spec"]["replicas"] == 2
    assert hpa.apply_scale("widgets", widget, 5)["spec"] == {"size": 5}
