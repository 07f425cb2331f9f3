"""Admission of PersistentVolumes, PersistentVolumeClaims and StorageClasses, in the order
kube-apiserver runs it: the mutating plugins (DefaultStorageClass gives a claim without a class
the default one; StorageObjectInUseProtection adds the `kubernetes.io/pvc-protection` and
`kubernetes.io/pv-protection` finalizers), validation (api/volumeclaims.py), then the
validating PersistentVolumeClaimResize plugin (a claim grows only when it is bound and its
class allows expansion). Nothing is stored when anything fails.
"""

from __future__ import annotations

from podhost.api import errors, volumeclaims
from podhost.api.types import Obj
from podhost.store.sqlite import Store


def _resize(store: Store, new: Obj, old: Obj) -> None:
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


def admit(store: Store, resource: str, obj: Obj, old: Obj | None) -> None:
    """Mutate, validate and check `obj` (a create when `old` is None)."""
    if old is None:
        volumeclaims.admit_new(resource, obj, store.list("storageclasses")[0])
    volumeclaims.validate(resource, obj, old)
    if old is not None and resource == "persistentvolumeclaims":
        _resize(store, obj, old)
