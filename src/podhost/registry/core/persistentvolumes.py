"""PersistentVolumes (pkg/registry/core/persistentvolume): defaults, Pending on creation, the
`kubernetes.io/pv-protection` finalizer (StorageObjectInUseProtection), validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import meta, storagetable, volumeclaims
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


class PersistentVolumeStrategy(Strategy):
    columns = storagetable.PV_COLUMNS

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending", "lastPhaseTransitionTime": meta.rfc3339()}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        volumeclaims.default_volume(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        volumeclaims.default_volume(new)

    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None:
            volumeclaims.add_finalizer(obj, volumeclaims.PV_PROTECTION)

    def validate(self, obj: Obj) -> list[FieldError]:
        return volumeclaims.validate_volume(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return storagetable.pv_cells(obj, now)


strategy = PersistentVolumeStrategy()
