"""apiregistration.k8s.io/v1 APIServices, pure: one per group version the API server serves
itself (`v1.`, `v1.apps`, `v2.autoscaling`, …, and `v1beta1.metrics.k8s.io`), Local and
Available as kube-aggregator's autoregister controller makes them; kubectl's columns
(NAME SERVICE AVAILABLE AGE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import columns as cols
from podhost.api import meta
from podhost.api.types import Obj

# kube-apiserver's apiVersionPriorities: (groupPriorityMinimum, versionPriority)
PRIORITIES = {"": (18000, 1), "apps": (17800, 15), "events.k8s.io": (17750, 15),
              "authentication.k8s.io": (17700, 15), "authorization.k8s.io": (17600, 15),
              "autoscaling": (17500, 30), "batch": (17400, 15),
              "certificates.k8s.io": (17300, 15), "networking.k8s.io": (17200, 15),
              "policy": (17100, 15), "rbac.authorization.k8s.io": (17000, 15),
              "storage.k8s.io": (16800, 15), "apiextensions.k8s.io": (16700, 15),
              "scheduling.k8s.io": (16600, 15), "coordination.k8s.io": (16500, 15),
              "node.k8s.io": (16300, 15), "discovery.k8s.io": (16200, 15),
              "metrics.k8s.io": (100, 100)}
COLUMNS = (cols.NAME,
           ("Service", "string", "", 0, "The reference to the service that hosts this API "
            "endpoint."),
           ("Available", "string", "", 0, "Whether this service is available."), cols.AGE)


def local(group: str, version: str) -> Obj:
    minimum, priority = PRIORITIES.get(group, (15000, 15))
    spec: Obj = {"version": version, "groupPriorityMinimum": minimum,
                 "versionPriority": priority}
    if group:
        spec["group"] = group
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{version}.{group}",
                         "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": spec,
            "status": {"conditions": [{"type": "Available", "status": "True",
                                       "lastTransitionTime": meta.rfc3339(), "reason": "Local",
                                       "message": "Local APIServices are always available"}]}}


def cells(obj: Obj, now: datetime) -> list[Any]:
    service = (obj.get("spec") or {}).get("service")
    conditions = (obj.get("status") or {}).get("conditions") or []
    available: Obj = next((c for c in conditions if c.get("type") == "Available"), {})
    state = str(available.get("status", "Unknown"))
    if state != "True" and available.get("reason"):
        state += f" ({available['reason']})"
    return [obj["metadata"]["name"],
            f"{service.get('namespace')}/{service.get('name')}" if service else "Local",
            state, cols.age(obj, now)]
