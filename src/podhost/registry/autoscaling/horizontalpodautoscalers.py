"""HorizontalPodAutoscalers (pkg/registry/autoscaling/horizontalpodautoscaler), served as
autoscaling/v2: defaults, validation, generation, status through `/status`, and kubectl's
columns (NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import hpa, workloads
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


def _spec_defaults(spec: Obj) -> None:
    hpa.default({"spec": spec})


class HorizontalPodAutoscalerStrategy(Strategy):
    columns = hpa.COLUMNS

    def initial_status(self, obj: Obj) -> Obj:
        return {"currentReplicas": 0, "desiredReplicas": 0}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        workloads.prepare_create(obj, _spec_defaults)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        workloads.prepare_update(new, old, _spec_defaults)

    def validate(self, obj: Obj) -> list[FieldError]:
        return hpa.validate(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return hpa.cells(obj, now)


strategy = HorizontalPodAutoscalerStrategy()
