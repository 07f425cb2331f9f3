"""RuntimeClasses (pkg/registry/node/runtimeclass): a handler that is a DNS label and does not
change, kubectl's columns (NAME HANDLER AGE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import podclasses
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class RuntimeClassStrategy(Strategy):
    columns = podclasses.RUNTIME_COLUMNS

    def validate(self, obj: Obj) -> list[FieldError]:
        return podclasses.validate_runtime_class(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return podclasses.validate_runtime_class_update(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return podclasses.runtime_cells(obj, now)


strategy = RuntimeClassStrategy()
