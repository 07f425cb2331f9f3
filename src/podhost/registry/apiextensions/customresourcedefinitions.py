"""CustomResourceDefinitions (apiextensions-apiserver's customresourcedefinition strategy):
defaults and the cleanup finalizer, status kept on main-resource writes, validation. The
establishing controller that serves them is apiserver/crds.py."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from podhost.api import extensiontables
from podhost.api.apiextensions import crd
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class CustomResourceDefinitionStrategy(Strategy):
    columns = extensiontables.CRD_COLUMNS
    core_finalizers = False  # customresourcecleanup.apiextensions.k8s.io

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)
        crd.prepare(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        new["status"] = copy.deepcopy(old.get("status", {}))
        crd.prepare(new)

    def validate(self, obj: Obj) -> list[FieldError]:
        return crd.validate(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return crd.validate_update(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return extensiontables.crd_cells(obj, now)


strategy = CustomResourceDefinitionStrategy()
