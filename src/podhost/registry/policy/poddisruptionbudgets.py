"""PodDisruptionBudgets (pkg/registry/policy/poddisruptionbudget): generation 1 and +1 on a
spec change, the zero-valued status on create, status through `/status`, ValidatePodDisruption
Budget, and kubectl's columns (printPodDisruptionBudget)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import columns as cols
from podhost.api import disruption, workloads
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy

COLUMNS = (cols.NAME,
           ("Min Available", "string", "", 0, "The minimum number of pods that must be "
            "available."),
           ("Max Unavailable", "string", "", 0, "The maximum number of pods that may be "
            "unavailable."),
           ("Allowed Disruptions", "integer", "", 0, "Calculated number of pods that may be "
            "disrupted at this time."),
           cols.AGE)


def _no_defaults(spec: Obj) -> None:
    """policy/v1 has no spec defaults."""


class PodDisruptionBudgetStrategy(Strategy):
    columns = COLUMNS

    def initial_status(self, obj: Obj) -> Obj:
        return disruption.initial_status()

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        workloads.prepare_create(obj, _no_defaults)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        workloads.prepare_update(new, old, _no_defaults)

    def validate(self, obj: Obj) -> list[FieldError]:
        return disruption.validate(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        def text(key: str) -> str:
            value = spec.get(key)
            return "N/A" if value is None else str(value)
        return [obj["metadata"]["name"], text("minAvailable"), text("maxUnavailable"),
                int(status.get("disruptionsAllowed") or 0), cols.age(obj, now)]


strategy = PodDisruptionBudgetStrategy()
