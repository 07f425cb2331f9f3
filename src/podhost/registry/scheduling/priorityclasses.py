"""PriorityClasses (pkg/registry/scheduling/priorityclass): preemptionPolicy defaulted,
ValidatePriorityClass (reserved `system-` names, the highest user value), value immutable, one
global default (the Priority plugin's check), kubectl's columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import podclasses, quota
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


class PriorityClassStrategy(Strategy):
    columns = podclasses.PRIORITY_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        podclasses.default_priority_class(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        podclasses.default_priority_class(new)

    def validate(self, obj: Obj) -> list[FieldError]:
        return podclasses.validate_priority_class(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return podclasses.validate_priority_class_update(new, old)

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if not obj.get("globalDefault"):
            return
        name = obj["metadata"]["name"]
        for other in ctx.store.list("priorityclasses", None)[0]:
            if other.get("globalDefault") and other["metadata"]["name"] != name:
                raise quota.forbidden("priorityclasses", obj, f"PriorityClass "
                                      f"{other['metadata']['name']} is already marked as "
                                      "default. Only one default can exist")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return podclasses.priority_cells(obj, now)


strategy = PriorityClassStrategy()
