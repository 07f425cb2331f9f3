"""StorageClasses (pkg/registry/storage/storageclass): defaults, validation, what may not
change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import storagetable, volumeclaims
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class StorageClassStrategy(Strategy):
    columns = storagetable.SC_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        volumeclaims.default_class(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        volumeclaims.default_class(new)

    def validate(self, obj: Obj) -> list[FieldError]:
        return volumeclaims.validate_class(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return volumeclaims.validate_class_update(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return storagetable.sc_cells(obj, now)


strategy = StorageClassStrategy()
