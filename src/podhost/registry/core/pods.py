"""Pods (pkg/registry/core/pod/strategy.go): defaults, the Pending status with its QoS class,
ServiceAccount admission, ValidatePod and what podhost refuses rather than ignores, and the
graceful deletion only Pods have."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from podhost.api import defaults, ephemeral, quantity, serviceaccount, table, validation
from podhost.api.errors import FieldError
from podhost.api.podupdate import pod_spec_update_errors
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


def qos_class(pod: Obj) -> str:
    """GetPodQOS: Guaranteed, Burstable or BestEffort from requests and limits."""
    spec = pod.get("spec", {})
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    requests: dict[str, float] = {}
    limits: dict[str, float] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in req and quantity.parse(str(req[name])) != 0:
                requests[name] = requests.get(name, 0) + quantity.parse(str(req[name]))
            if name in lim and quantity.parse(str(lim[name])) != 0:
                limits[name] = limits.get(name, 0) + quantity.parse(str(lim[name]))
        if not all(n in lim for n in ("cpu", "memory")):
            guaranteed = False
        elif any(n in req and quantity.parse(str(req[n])) != quantity.parse(str(lim[n]))
                 for n in ("cpu", "memory")):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and limits else "Burstable"


def grace_period(pod: Obj, requested: int | None) -> int:
    """The grace period a delete gets: 0 for unscheduled or finished Pods (registry rules)."""
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if not pod.get("spec", {}).get("nodeName"):
        return 0
    grace = requested if requested is not None else \
        pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    current = pod.get("metadata", {}).get("deletionGracePeriodSeconds")
    if current is not None and grace > current:
        return int(current)
    return max(0, int(grace))


class PodStrategy(Strategy):
    columns = table.POD_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        defaults.default_pod(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        ephemeral.keep_on_update(new, old)
        defaults.default_pod(new)
        new["status"] = old.get("status", {})

    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None:
            serviceaccount.admit_from(ctx.store, obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        return validation.validate_pod(obj) + ephemeral.create_errors(obj) + \
            validation.unsupported_pod_fields(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return validation.validate_pod(new) + validation.unsupported_pod_fields(new) + \
            pod_spec_update_errors(new.get("spec") or {}, old.get("spec") or {})

    def prepare_for_subresource_update(self, subresource: str, new: Obj, old: Obj) -> Obj:
        if subresource != "binding":
            return super().prepare_for_subresource_update(subresource, new, old)
        # pods/binding (the scheduler's write): the node, and the PodScheduled condition
        result = copy.deepcopy(old)
        result["spec"]["nodeName"] = (new.get("spec") or {}).get("nodeName")
        result["status"] = new.get("status", old.get("status", {}))
        return result

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []  # ValidatePodStatusUpdate: the spec is the stored one

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        """A Pod bound to another node is refused: podhost runs its own node's Pods only."""
        if errs := validation.node_binding_errors(obj, ctx.node_name):
            raise self.invalid(obj, errs)

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        return grace_period(obj, requested)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.pod_cells(obj, now)


strategy = PodStrategy()
