"""Endpoints (pkg/registry/core/endpoint): kubectl's columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import servicetable
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class EndpointsStrategy(Strategy):
    columns = servicetable.ENDPOINTS_COLUMNS

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return servicetable.endpoints_cells(obj, now)


strategy = EndpointsStrategy()
