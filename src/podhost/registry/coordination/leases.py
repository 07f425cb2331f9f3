"""Leases (pkg/registry/coordination/lease): validation, gated fields dropped, HOLDER."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import lease
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class LeaseStrategy(Strategy):
    columns = lease.COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        lease.prepare(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        lease.prepare(new)

    def validate(self, obj: Obj) -> list[FieldError]:
        return lease.validate(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return lease.cells(obj, now)


strategy = LeaseStrategy()
