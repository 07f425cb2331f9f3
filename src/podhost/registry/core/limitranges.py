"""LimitRanges (pkg/registry/core/limitrange): the Container item's defaults
(SetDefaults_LimitRangeItem), ValidateLimitRange, kubectl's columns (NAME CREATED AT)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import limitrange
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class LimitRangeStrategy(Strategy):
    columns = limitrange.COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        limitrange.default(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        limitrange.default(new)

    def validate(self, obj: Obj) -> list[FieldError]:
        return limitrange.validate(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return limitrange.cells(obj, now)


strategy = LimitRangeStrategy()
