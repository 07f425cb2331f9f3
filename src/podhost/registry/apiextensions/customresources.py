"""`CustomResourceStrategy`: the one strategy of every custom resource, built from its CRD
(api/apiextensions/strategy.CustomResource: the storage version's structural schema, CEL
rules, defaults, subresources and printer columns). apiserver/crds.py registers one per
established CRD (`strategies.register`) and forgets it when the CRD goes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import errors
from podhost.api.apiextensions.strategy import CustomResource
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


class CustomResourceStrategy(Strategy):
    core_finalizers = False  # any qualified finalizer (kopf's, an operator's)

    def __init__(self, custom: CustomResource) -> None:
        self.custom = custom
        self.columns = custom.column_definitions()

    def prepare_for_create(self, obj: Obj) -> None:
        self.custom.prepare_for_create(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        self.custom.prepare_for_update(new, old, status_only=False)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        result = super().prepare_for_status_update(new, old)
        self.custom.prepare_for_update(result, old, status_only=True)
        return result

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None and self.custom.terminating:
            raise errors.MethodNotAllowedError(
                "create not allowed while custom resource definition is terminating")

    def validate(self, obj: Obj) -> list[FieldError]:
        return self.custom.validate(obj, None)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.custom.validate(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return self.custom.cells(obj, now)
