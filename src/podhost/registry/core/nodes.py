"""Nodes (pkg/registry/core/node): kubectl's node columns; status through `/status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import table
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class NodeStrategy(Strategy):
    columns = table.NODE_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        """A kubelet registers its Node with its status: kept (PrepareForCreate)."""

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.node_cells(obj, now)


strategy = NodeStrategy()
