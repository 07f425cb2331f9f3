"""HorizontalPodAutoscalers through the API: autoscaling/v2 with defaults, validation and
kubectl's table; autoscaling/v1 (what `kubectl autoscale` up to 1.33 sends) converted to and
from the stored v2 object."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.apiserver import hpav1
from tests.unit.apiserver.helpers import call, make_api

V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def v1_hpa(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"}, "maxReplicas": 3, **spec}}


def test_v1_create_is_stored_as_v2_and_read_back(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, created = await call(api, "POST", V1, v1_hpa(targetCPUUtilizationPercentage=50))
        assert code == 201 and created["apiVersion"] == "autoscaling/v1"
        assert created["spec"] == {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                      "kind": "Deployment", "name": "web"},
                                   "minReplicas": 1, "maxReplicas": 3,
                                   "targetCPUUtilizationPercentage": 50}
        code, stored = await call(api, "GET", f"{V2}/web")
        assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
        code, listed = await call(api, "GET", V1)
        assert listed["apiVersion"] == "autoscaling/v1"
        assert listed["items"][0]["spec"]["targetCPUUtilizationPercentage"] == 50
        code, table = await call(api, "GET", V2, headers={"accept": TABLE})
        assert table["rows"][0]["cells"][:6] == ["web", "Deployment/web", "cpu: <unknown>/50%",
                                                 1, 3, 0]
        code, _ = await call(api, "PATCH", f"{V1}/web", {"spec": {"maxReplicas": 4}},
                             headers={"content-type": "application/merge-patch+json"})
        assert code == 405
        code, _ = await call(api, "DELETE", f"{V1}/web")
        assert code == 200
    asyncio.run(go())


def test_v2_validation(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        body = v1_hpa(minReplicas=4)
        body["apiVersion"] = "autoscaling/v2"
        code, status = await call(api, "POST", V2, body)
        assert code == 422
        assert status["message"] == (
            'HorizontalPodAutoscaler.autoscaling "web" is invalid: spec.maxReplicas: Invalid '
            "value: 3: must be greater than or equal to `minReplicas`")
    asyncio.run(go())


def test_conversion_of_status() -> None:
    stored = {"metadata": {"name": "web"}, "spec": {"maxReplicas": 2}, "status": {
        "currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 70, "averageValue": "35m"}}}]}}
    assert hpav1.to_v1(stored)["status"] == {"currentReplicas": 2, "desiredReplicas": 2,
                                             "currentCPUUtilizationPercentage": 70}
