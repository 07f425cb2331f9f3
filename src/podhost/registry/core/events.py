"""Events (pkg/registry/core/event): kubectl's event columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import table
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class EventStrategy(Strategy):
    columns = table.EVENT_COLUMNS
    admission_exempt = True

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.event_cells(obj, now)


strategy = EventStrategy()
