"""`kubectl get pv,pvc,sc` columns, as the API server's table printers make them
(pkg/printers/internalversion: printPersistentVolume, printPersistentVolumeClaim,
printStorageClass)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import volumeclaims
from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.types import Obj

_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
          ("ReadWriteOncePod", "RWOP"))
_VAC = ("VolumeAttributesClass", "string", "", 0, "Name of VolumeAttributesClass to which this "
        "persistent volume belongs.")
PV_COLUMNS: list[Column] = [
    NAME,
    ("Capacity", "string", "", 0, "capacity is the description of the persistent volume's "
     "resources and capacity."),
    ("Access Modes", "string", "", 0, "accessModes contains all ways the volume can be "
     "mounted."),
    ("Reclaim Policy", "string", "", 0, "persistentVolumeReclaimPolicy defines what happens "
     "to a persistent volume when released from its claim."),
    ("Status", "string", "", 0, "phase indicates if a volume is available, bound to a claim, "
     "or released by a claim."),
    ("Claim", "string", "", 0, "claimRef is part of a bi-directional binding between "
     "PersistentVolume and PersistentVolumeClaim."),
    ("StorageClass", "string", "", 0, "storageClassName is the name of StorageClass to which "
     "this persistent volume belongs."),
    _VAC,
    ("Reason", "string", "", 0, "reason is a brief CamelCase string that describes any "
     "failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    ("VolumeMode", "string", "", 1, "volumeMode defines if a volume is intended to be used "
     "with a formatted filesystem or to remain in raw block state."),
]
PVC_COLUMNS: list[Column] = [
    NAME,
    ("Status", "string", "", 0, "phase represents the current phase of "
     "PersistentVolumeClaim."),
    ("Volume", "string", "", 0, "volumeName is the binding reference to the PersistentVolume "
     "backing this claim."),
    ("Capacity", "string", "", 0, "capacity represents the actual resources of the underlying "
     "volume."),
    ("Access Modes", "string", "", 0, "accessModes contains the actual access modes the volume "
     "backing the PVC has."),
    ("StorageClass", "string", "", 0, "storageClassName is the name of the StorageClass "
     "required by the claim."),
    ("VolumeAttributesClass", "string", "", 0, "volumeAttributesClassName may be used to set "
     "the VolumeAttributesClass used by this claim."),
    AGE,
    ("VolumeMode", "string", "", 1, "volumeMode defines what type of volume is required by "
     "the claim."),
]
SC_COLUMNS: list[Column] = [
    NAME,
    ("Provisioner", "string", "", 0, "provisioner indicates the type of the provisioner."),
    ("ReclaimPolicy", "string", "", 0, "reclaimPolicy controls the reclaimPolicy for "
     "dynamically provisioned PersistentVolumes of this storage class."),
    ("VolumeBindingMode", "string", "", 0, "volumeBindingMode indicates how "
     "PersistentVolumeClaims should be provisioned and bound."),
    ("AllowVolumeExpansion", "string", "", 0, "allowVolumeExpansion shows whether the storage "
     "class allow volume expand."),
    AGE,
]




def modes_text(modes: list[str]) -> str:
    """GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order."""
    return ",".join(short for mode, short in _MODES if mode in modes)


def _phase(obj: Obj) -> str:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((obj.get("status") or {}).get("phase") or "")


def pv_cells(pv: Obj, now: datetime) -> list[Any]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else ""
    return [pv["metadata"]["name"], str((spec.get("capacity") or {}).get("storage", "")),
            modes_text(spec.get("accessModes") or []),
            spec.get("persistentVolumeReclaimPolicy", ""), _phase(pv), claim,
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason", ""), age(pv, now), spec.get("volumeMode") or "<unset>"]


def pvc_cells(pvc: Obj, now: datetime) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    bound = bool(spec.get("volumeName"))
    cap = str((status.get("capacity") or {}).get("storage", "")) if bound else ""
    modes = modes_text(status.get("accessModes") or []) if bound else ""
    return [pvc["metadata"]["name"], _phase(pvc), spec.get("volumeName", ""), cap, modes,
            spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", age(pvc, now),
            spec.get("volumeMode") or "<unset>"]


def sc_cells(sc: Obj, now: datetime) -> list[Any]:
    name = sc["metadata"]["name"]
    if volumeclaims.is_default_class(sc):
        name += " (default)"
    return [name, sc.get("provisioner", ""), sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate",
            "true" if sc.get("allowVolumeExpansion") else "false", age(sc, now)]


