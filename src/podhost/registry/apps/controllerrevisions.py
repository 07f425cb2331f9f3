"""ControllerRevisions (pkg/registry/apps/controllerrevision): kubectl's columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import workloadtable
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class ControllerRevisionStrategy(Strategy):
    columns = workloadtable.CONTROLLERREVISION_COLUMNS

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return workloadtable.controllerrevision_cells(obj, now)


strategy = ControllerRevisionStrategy()
