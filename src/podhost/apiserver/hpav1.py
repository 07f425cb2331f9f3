"""autoscaling/v1 HorizontalPodAutoscalers, converted to and from the stored autoscaling/v2
objects (as kube-apiserver's conversion does: `targetCPUUtilizationPercentage` is a CPU
Utilization metric). kubectl up to 1.33 creates autoscalers with `kubectl autoscale` through
v1 (a protobuf body). Served: get, list, create, update, delete and the status subresource;
not watch or patch (the preferred version, v2, has them), which answer 405. Discovery lists
v2 only.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from podhost.api import errors
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, dumps, not_allowed
from podhost.apiserver.http import Request, Response, StreamResponse, Upgrade

PATH = re.compile(r"^/apis/autoscaling/v1/(?P<rest>(?:namespaces/[^/]+/)?"
                  r"horizontalpodautoscalers(?:/[^/]+(?:/status)?)?)/?$")
V1, V2 = "autoscaling/v1", "autoscaling/v2"
Dispatch = Callable[[Request], Awaitable[Response | StreamResponse | Upgrade]]


def _cpu_metric(spec: Obj) -> Obj | None:
    return next((m for m in spec.get("metrics") or []
                 if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") ==
                 "cpu" and (m["resource"].get("target") or {}).get("type") == "Utilization"),
                None)


def to_v2(obj: Obj) -> Obj:
    """A v1 autoscaler as the v2 object it is stored as."""
    new = copy.deepcopy(obj)
    new["apiVersion"] = V2
    spec = new.get("spec")
    if isinstance(spec, dict):
        target = spec.pop("targetCPUUtilizationPercentage", None)
        if target is not None:
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": target}}}]
    status = new.get("status")
    if isinstance(status, dict):
        status.pop("currentCPUUtilizationPercentage", None)
    return new


def to_v1(obj: Obj) -> Obj:
    """A stored v2 autoscaler as v1 shows it."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    v1_spec = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
               if k in spec}
    cpu = _cpu_metric(spec)
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get(
            "averageUtilization")
    v1_status = {k: status[k] for k in ("observedGeneration", "lastScaleTime",
                                        "currentReplicas", "desiredReplicas") if k in status}
    current = next((m["resource"]["current"].get("averageUtilization")
                    for m in status.get("currentMetrics") or []
                    if (m.get("resource") or {}).get("name") == "cpu"), None)
    if current is not None:
        v1_status["currentCPUUtilizationPercentage"] = current
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": V1,
            "metadata": obj.get("metadata", {}), "spec": v1_spec, "status": v1_status}


def _decode(request: Request) -> Any:
    """The v1 body (JSON, YAML, or protobuf with the autoscaling/v1 message)."""
    return decode_body(request, "HorizontalPodAutoscaler")


def _answer(response: Response) -> Response:
    if not response.body.startswith(b"{"):
        return response
    obj = json.loads(response.body)
    if obj.get("kind") == "HorizontalPodAutoscaler":
        obj = to_v1(obj)
    elif obj.get("kind") == "HorizontalPodAutoscalerList":
        obj = {**obj, "apiVersion": V1, "items": [to_v1(i) for i in obj.get("items") or []]}
    return dataclasses.replace(response, body=dumps(obj))


async def handle(request: Request, dispatch: Dispatch) -> Response | None:
    """The v1 request served by the v2 resource; None when the path is not v1's."""
    m = PATH.match(request.path)
    if m is None:
        return None
    if request.method == "PATCH" or request.flag("watch"):
        raise not_allowed()
    body = request.body
    headers = dict(request.headers)
    if request.method in ("POST", "PUT"):
        decoded = _decode(request)
        if not isinstance(decoded, dict):
            raise errors.BadRequestError("the body must be a HorizontalPodAutoscaler object")
        body = dumps(to_v2(decoded))
        headers["content-type"] = "application/json"
    v2 = dataclasses.replace(request, path=f"/apis/{V2}/{m.group('rest')}", body=body,
                             headers=headers)
    response = await dispatch(v2)
    if not isinstance(response, Response):
        raise not_allowed()
    return _answer(response)
