"""ResourceQuotas (pkg/registry/core/resourcequota): validation, status through `/status`
(the usage controller's), kubectl's columns (NAME AGE REQUEST LIMIT)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import quota
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class ResourceQuotaStrategy(Strategy):
    columns = quota.COLUMNS

    def validate(self, obj: Obj) -> list[FieldError]:
        return quota.validate(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return quota.cells(obj, now)


strategy = ResourceQuotaStrategy()
