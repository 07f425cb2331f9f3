"""ServiceAccounts (pkg/registry/core/serviceaccount)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import table
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class ServiceAccountStrategy(Strategy):
    columns = table.SERVICEACCOUNT_COLUMNS

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.serviceaccount_cells(obj, now)


strategy = ServiceAccountStrategy()
