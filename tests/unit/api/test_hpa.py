"""The HorizontalPodAutoscaler's pure parts: defaults, validation, columns, the replica
calculator (tolerance, missing metrics, unready Pods) and behavior (stabilization, policies)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from podhost.api import hpa, hpabehavior, hpacalc
from podhost.api.types import Obj

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
LONG_AGO = "2026-01-01T11:00:00Z"


def pod(name: str, cpu: str = "100m", phase: str = "Running", ready: bool = True) -> Obj:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase, "startTime": LONG_AGO, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": LONG_AGO}]}}


def metric(milli: int) -> hpacalc.PodMetric:
    return hpacalc.PodMetric(milli, NOW, 15)


def test_defaults_and_validation() -> None:
    obj: Obj = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                         "maxReplicas": 3, "behavior": {"scaleDown": {
                             "stabilizationWindowSeconds": 0}}}}
    hpa.default(obj)
    spec = obj["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    assert spec["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4,
                                                          "periodSeconds": 15}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 0
    assert hpa.validate(obj) == []
    bad: Obj = {"spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 5,
                         "maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"type": "Utilization"}}}]}}
    assert [(e.field, e.detail) for e in hpa.validate(bad)] == [
        ("spec.scaleTargetRef.name", ""),
        ("spec.maxReplicas", "must be greater than or equal to `minReplicas`"),
        ("spec.metrics[0].resource.target.averageUtilization",
         "must set either a target raw value or a target utilization")]


def test_columns() -> None:
    obj: Obj = {"metadata": {"name": "web", "creationTimestamp": LONG_AGO},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                         "minReplicas": 1, "maxReplicas": 5, "metrics": [
                             {"type": "Resource", "resource": {"name": "cpu", "target": {
                                 "type": "Utilization", "averageUtilization": 50}}},
                             {"type": "Resource", "resource": {"name": "memory", "target": {
                                 "type": "AverageValue", "averageValue": "20Mi"}}}]},
                "status": {"currentReplicas": 2, "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "current": {
                        "averageUtilization": 12, "averageValue": "12m"}}}]}}
    assert hpa.cells(obj, NOW)[:6] == ["web", "Deployment/web",
                                       "cpu: 12%/50%, memory: <unknown>/20Mi", 1, 5, 2]


def test_utilization_within_tolerance_and_above() -> None:
    pods = [pod("a"), pod("b")]
    requests = {"a": 100, "b": 100}
    calm = hpacalc.replicas_for(2, pods, {"a": metric(55), "b": metric(52)}, "cpu", 50,
                                requests, NOW)
    assert (calm.replicas, calm.utilization) == (2, 53)  # within 10%
    busy = hpacalc.replicas_for(2, pods, {"a": metric(100), "b": metric(100)}, "cpu", 50,
                                requests, NOW)
    assert (busy.replicas, busy.utilization) == (4, 100)
    idle = hpacalc.replicas_for(4, [*pods, pod("c"), pod("d")],
                                {n: metric(0) for n in "abcd"}, "cpu", 50,
                                {n: 100 for n in "abcd"}, NOW)
    assert idle.replicas == 0  # min replicas come later


def test_missing_and_unready_pods() -> None:
    pods = [pod("a"), pod("b"), pod("new", phase="Pending")]
    requests = {"a": 100, "b": 100, "new": 100}
    # b has no metric: scaling down, it counts as using its whole request
    down = hpacalc.replicas_for(3, pods, {"a": metric(10)}, "cpu", 50, requests, NOW)
    assert down.replicas == 3  # 10% and 100% average 55%: within tolerance of 50% -> keep
    # scaling up with an unready Pod: it counts as idle
    up = hpacalc.replicas_for(3, pods, {"a": metric(200), "b": metric(200)}, "cpu", 50,
                              requests, NOW)
    assert up.replicas == 8  # 400m over 300m requested: 133% against 50%, times 3 Pods
    with pytest.raises(hpacalc.MetricError, match="no pods returned by selector"):
        hpacalc.replicas_for(1, [], {}, "cpu", 50, {}, NOW)
    with pytest.raises(hpacalc.MetricError, match="missing request for cpu in container c"):
        hpacalc.pod_request({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}},
                            "cpu")


def test_average_value() -> None:
    found = hpacalc.replicas_for(1, [pod("a")], {"a": metric(300)}, "cpu", 100, None, NOW)
    assert (found.replicas, found.average) == (3, 300)


def test_normalize_without_behavior_keeps_the_highest_recent_recommendation() -> None:
    spec: Obj = {"minReplicas": 1, "maxReplicas": 10}
    history = hpabehavior.History()
    first = hpabehavior.normalize(spec, history, 1, 20, NOW, 300)
    assert (first.replicas, first.limited, first.limit[0]) == (4, True, "ScaleUpLimit")
    down = hpabehavior.normalize(spec, history, 4, 1, NOW + timedelta(seconds=15), 300)
    # the recommendation of 20 holds for the window (then at most double of 4)
    assert (down.replicas, down.able[0]) == (8, "ScaleDownStabilized")
    later = hpabehavior.normalize(spec, history, 4, 1, NOW + timedelta(seconds=400), 300)
    assert later.replicas == 1 and later.able[0] == "ReadyForNewScale"


def test_normalize_with_behavior_policies() -> None:
    spec: Obj = {"minReplicas": 1, "maxReplicas": 10, "behavior": {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 50, "periodSeconds": 60}]}}}
    history = hpabehavior.History()
    up = hpabehavior.normalize(spec, history, 2, 6, NOW, 300)
    assert (up.replicas, up.limit[0]) == (3, "ScaleUpLimit")
    history.record_scale(2, 3, NOW)
    again = hpabehavior.normalize(spec, history, 3, 6, NOW + timedelta(seconds=10), 300)
    assert again.replicas == 3  # one Pod a minute: already used
    down = hpabehavior.normalize(spec, hpabehavior.History(), 8, 1, NOW, 300)
    assert (down.replicas, down.limit[0]) == (4, "ScaleDownLimit")
    spec["behavior"]["scaleDown"]["selectPolicy"] = "Disabled"
    assert hpabehavior.normalize(spec, hpabehavior.History(), 8, 1, NOW, 300).replicas == 8
