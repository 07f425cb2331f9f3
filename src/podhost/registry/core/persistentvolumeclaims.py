"""PersistentVolumeClaims (pkg/registry/core/persistentvolumeclaim), with the admission
kube-apiserver runs for them: DefaultStorageClass and the `kubernetes.io/pvc-protection`
finalizer (mutating), validation, then PersistentVolumeClaimResize (a claim grows only when it
is bound and its class allows expansion)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import errors, storagetable, volumeclaims
from podhost.api.errors import FieldError
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


def check_resize(store: ObjectStore, new: Obj, old: Obj) -> None:
    if volumeclaims.storage_request(new) <= volumeclaims.storage_request(old):
        return
    name = new["metadata"].get("name", "")
    if (old.get("status") or {}).get("phase") != "Bound":
        raise errors.ForbiddenError(f'persistentvolumeclaims "{name}" is forbidden: Only bound '
                                    "persistent volume claims can be expanded",
                                    kind="persistentvolumeclaims", name=name)
    class_name = (new.get("spec") or {}).get("storageClassName") or ""
    try:
        allowed = bool(class_name) and bool(
            store.get("storageclasses", "", class_name).get("allowVolumeExpansion"))
    except errors.NotFoundError:
        allowed = False
    if not allowed:
        raise errors.ForbiddenError(f'persistentvolumeclaims "{name}" is forbidden: only '
                                    "dynamically provisioned pvc can be resized and the "
                                    "storageclass that provisions the pvc must support resize",
                                    kind="persistentvolumeclaims", name=name)


class PersistentVolumeClaimStrategy(Strategy):
    columns = storagetable.PVC_COLUMNS

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        volumeclaims.default_claim(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        volumeclaims.default_claim(new)

    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None:
            volumeclaims.admit_claim(obj, ctx.store.list("storageclasses")[0])

    def validate(self, obj: Obj) -> list[FieldError]:
        return volumeclaims.validate_claim(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return volumeclaims.validate_claim_update(new, old)

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is not None:
            check_resize(ctx.store, obj, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return storagetable.pvc_cells(obj, now)


strategy = PersistentVolumeClaimStrategy()
