"""IngressClasses (pkg/registry/networking/ingressclass): the parameters' default scope,
validation, a controller that never changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import ingress, ingresstable
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class IngressClassStrategy(Strategy):
    columns = ingresstable.INGRESSCLASS_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        ingress.default_class(obj)
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        ingress.default_class(new)
        ingress.bump_generation(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return ingress.validate_class(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return ingress.validate_class(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return ingresstable.ingressclass_cells(obj, now)


strategy = IngressClassStrategy()
