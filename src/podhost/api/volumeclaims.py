"""PersistentVolumes, PersistentVolumeClaims and StorageClasses as the API server has them:
defaults (SetDefaults_*, the registry strategies' PrepareForCreate/Update) and validation in
its words (ValidatePersistentVolume, ValidatePersistentVolumeClaim(Update), ValidateStorageClass
(Update) of pkg/apis/core/validation and pkg/apis/storage/validation).

Pure: functions over wire dicts.
"""

from __future__ import annotations

import copy
from typing import Any

from podhost.api import errors, meta, quantity
from podhost.api.errors import FieldError
from podhost.api.types import Obj

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
CLASS_RECLAIM_POLICIES = ["Delete", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
VOLUME_MODES = ["Block", "Filesystem"]
# the PV sources of PersistentVolumeSpec, in validation's order; podhost mounts two of them
PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs",
              "rbd", "quobyte", "cephfs", "iscsi", "cinder", "fc", "flocker", "flexVolume",
              "azureFile", "vsphereVolume", "azureDisk", "photonPersistentDisk",
              "portworxVolume", "scaleIO", "local", "storageos", "csi")
PV_SUPPORTED = ("hostPath", "local")

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def storage_request(pvc: Obj) -> int:
    """The claim's `spec.resources.requests.storage` in bytes (0 when missing or bad)."""
    value = _dict(_dict(_dict(pvc.get("spec")).get("resources")).get("requests")).get("storage")
    try:
        return quantity.parse_bytes(str(value)) if value is not None else 0
    except (quantity.QuantityError, ValueError, ArithmeticError):
        return 0


def capacity(obj: Obj, section: str = "spec") -> int:
    """A PV's `spec.capacity.storage` (or a claim's `status.capacity.storage`) in bytes."""
    value = _dict(_dict(obj.get(section)).get("capacity")).get("storage")
    try:
        return quantity.parse_bytes(str(value)) if value is not None else 0
    except (quantity.QuantityError, ValueError, ArithmeticError):
        return 0


def is_default_class(sc: Obj) -> bool:
    ann = _dict(_dict(sc.get("metadata")).get("annotations"))
    return "true" in (ann.get(DEFAULT_CLASS_ANNOTATION), ann.get(BETA_DEFAULT_CLASS_ANNOTATION))


# -- defaults ------------------------------------------------------------------------------------
def default_class(sc: Obj) -> None:
    """SetDefaults_StorageClass."""
    sc.setdefault("reclaimPolicy", "Delete")
    sc.setdefault("volumeBindingMode", "Immediate")


def default_volume(pv: Obj) -> None:
    """SetDefaults_PersistentVolume, and canonical quantities."""
    spec = pv.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    if isinstance(spec.get("hostPath"), dict):
        spec["hostPath"].setdefault("type", "")
    _canonical_quantities(spec)


def default_claim(pvc: Obj) -> None:
    """SetDefaults_PersistentVolumeClaim, and canonical quantities."""
    spec = pvc.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    _canonical_quantities(spec)


def _canonical_quantities(spec: Obj) -> None:
    for holder in (spec.get("capacity"), _dict(spec.get("resources")).get("requests"),
                   _dict(spec.get("resources")).get("limits")):
        if isinstance(holder, dict):
            for key, value in list(holder.items()):
                try:
                    holder[key] = quantity.canonical(value)
                except (quantity.QuantityError, ValueError, ArithmeticError, TypeError):
                    pass


# -- validation ----------------------------------------------------------------------------------
def _access_modes(modes: Any, path: str, claim: bool) -> list[FieldError]:
    if not modes:
        return [errors.required(path, "at least 1 access mode is required" if claim else "")]
    errs = [errors.not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(errors.forbidden(path, "may not use ReadWriteOncePod with other access "
                                     "modes"))
    return errs


def _class_name(value: Any, path: str) -> list[FieldError]:
    if not value:
        return []
    return [errors.invalid(path, value, msg) for msg in meta.dns1123_subdomain_errors(value)]


def _volume_mode(spec: Obj, path: str) -> list[FieldError]:
    mode = spec.get("volumeMode")
    if mode is None:
        return []
    if mode not in VOLUME_MODES:
        return [errors.not_supported(path, mode, VOLUME_MODES)]
    if mode == "Block":
        return [errors.forbidden(path, "podhost does not support raw block volumes yet")]
    return []


def claim_spec_errors(spec: Obj, path: str = "spec") -> list[FieldError]:
    """ValidatePersistentVolumeClaimSpec (also for ephemeral volumeClaimTemplates)."""
    errs = _access_modes(spec.get("accessModes"), f"{path}.accessModes", True)
    requests = _dict(_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(errors.required(f"{path}.resources[storage]"))
    else:
        try:
            if quantity.parse(str(requests["storage"])) <= 0:
                errs.append(errors.invalid(f"{path}.resources[storage]", requests["storage"],
                                           "must be greater than zero"))
        except (quantity.QuantityError, ValueError, ArithmeticError):
            errs.append(errors.invalid(f"{path}.resources[storage]", requests["storage"],
                                       "must be a valid quantity"))
    errs += _class_name(spec.get("storageClassName"), f"{path}.storageClassName")
    errs += _volume_mode(spec, f"{path}.volumeMode")
    if spec.get("dataSource") or spec.get("dataSourceRef"):
        errs.append(errors.forbidden(f"{path}.dataSource", "podhost does not support volume "
                                     "populators or snapshots yet"))
    return errs


def validate_claim(pvc: Obj) -> list[FieldError]:
    return claim_spec_errors(_dict(pvc.get("spec")))


def validate_claim_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidatePersistentVolumeClaimUpdate: the spec is immutable but for a bound claim's
    storage request (and binding fields the controller fills), which may only grow."""
    errs = validate_claim(new)
    new_spec = copy.deepcopy(_dict(new.get("spec")))
    old_spec = copy.deepcopy(_dict(old.get("spec")))
    if not old_spec.get("volumeName"):  # the binder may set it once
        new_spec.pop("volumeName", None)
        old_spec.pop("volumeName", None)
    if old_spec.get("storageClassName") is None:
        new_spec.pop("storageClassName", None)
    requests = _dict(new_spec.get("resources")).get("requests")
    if _dict(old.get("status")).get("phase") == "Bound" and isinstance(requests, dict):
        old_storage = _dict(_dict(old_spec.get("resources")).get("requests")).get("storage")
        requests["storage"] = old_storage
    if new_spec != old_spec:
        errs.append(errors.forbidden("spec", "spec is immutable after creation except "
                                     "resources.requests and volumeAttributesClassName for "
                                     "bound claims"))
    if storage_request(new) < storage_request(old):
        errs.append(errors.forbidden("spec.resources.requests.storage",
                                     "field can not be less than previous value"))
    return errs


def _pv_source(spec: Obj) -> list[FieldError]:
    sources = [k for k in PV_SOURCES if spec.get(k) is not None]
    if not sources:
        return [errors.required("spec", "must specify a volume type")]
    errs = [errors.forbidden(f"spec.{k}", "may not specify more than 1 volume type")
            for k in sources[1:]]
    first = sources[0]
    if first not in PV_SUPPORTED:
        return errs + [errors.forbidden(f"spec.{first}", f"{first} volumes are not supported "
                                        "by podhost yet")]
    if not _dict(spec[first]).get("path"):
        errs.append(errors.required(f"spec.{first}.path"))
    if first == "local" and not spec.get("nodeAffinity"):
        errs.append(errors.required("spec.nodeAffinity", "Local volume requires node "
                                    "affinity"))
    return errs


def validate_volume(pv: Obj) -> list[FieldError]:
    """ValidatePersistentVolume (and Update: the same checks of the new object)."""
    spec = _dict(pv.get("spec"))
    errs = _access_modes(spec.get("accessModes"), "spec.accessModes", False)
    cap = _dict(spec.get("capacity"))
    if not cap:
        errs.append(errors.required("spec.capacity"))
    errs += [errors.not_supported("spec.capacity", k, ["storage"]) for k in cap
             if k != "storage"]
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        errs.append(errors.not_supported("spec.persistentVolumeReclaimPolicy", policy,
                                         RECLAIM_POLICIES))
    errs += _class_name(spec.get("storageClassName"), "spec.storageClassName")
    errs += _volume_mode(spec, "spec.volumeMode")
    return errs + _pv_source(spec)


def validate_class(sc: Obj) -> list[FieldError]:
    """ValidateStorageClass."""
    errs: list[FieldError] = []
    if not sc.get("provisioner"):
        errs.append(errors.required("provisioner"))
    policy = sc.get("reclaimPolicy")
    if policy not in CLASS_RECLAIM_POLICIES:
        errs.append(errors.not_supported("reclaimPolicy", policy, CLASS_RECLAIM_POLICIES))
    mode = sc.get("volumeBindingMode")
    if not mode:
        errs.append(errors.required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        errs.append(errors.not_supported("volumeBindingMode", mode, BINDING_MODES))
    return errs


def validate_class_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_class(new)
    for key in ("parameters", "provisioner", "reclaimPolicy"):
        if (new.get(key) or None) != (old.get(key) or None):
            errs.append(errors.forbidden(key, f"updates to {key} are forbidden."))
    if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
        errs.append(errors.invalid("volumeBindingMode", new.get("volumeBindingMode"),
                                   "field is immutable"))
    return errs


def pod_volume_errors(source: Obj, kind: str, path: str) -> list[FieldError]:
    """validatePersistentClaimVolumeSource and validateEphemeralVolumeSource of a Pod volume."""
    if kind == "persistentVolumeClaim":
        return [] if source.get("claimName") else [errors.required(f"{path}.claimName")]
    template = source.get("volumeClaimTemplate")
    if not isinstance(template, dict):
        return [errors.required(f"{path}.volumeClaimTemplate")]
    return claim_spec_errors(_dict(template.get("spec")), f"{path}.volumeClaimTemplate.spec")


def default_class_name(classes: list[Obj]) -> str | None:
    """GetDefaultClass: the newest class annotated as the default."""
    found = sorted((sc for sc in classes if is_default_class(sc)),
                   key=lambda sc: (_dict(sc.get("metadata")).get("creationTimestamp") or "",
                                   _dict(sc.get("metadata")).get("name") or ""))
    return str(found[-1]["metadata"]["name"]) if found else None


def add_finalizer(obj: Obj, finalizer: str) -> None:
    finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def admit_claim(pvc: Obj, classes: list[Obj]) -> None:
    """The mutating admission of a new claim: DefaultStorageClass (a claim without a class
    gets the default one) and StorageObjectInUseProtection (its protection finalizer)."""
    spec = pvc.setdefault("spec", {})
    if spec.get("storageClassName") is None:
        default = default_class_name(classes)
        if default is not None:
            spec["storageClassName"] = default
    add_finalizer(pvc, PVC_PROTECTION)


LOCAL_PROVISIONER = "podhost.io/local-path"
# served by the built-in provisioner too, so a class written for kind or k3s (rancher's
# local-path-provisioner) works unchanged
LOCAL_PROVISIONERS = frozenset({LOCAL_PROVISIONER, "rancher.io/local-path"})
# `standard` as kind names its default class, `local-path` as k3s does: manifests written for
# either run unchanged; a claim without a class gets `standard`
BUILT_IN_CLASSES = (("standard", True), ("local-path", False))


def built_in_classes() -> list[Obj]:
    """The StorageClasses the node makes at its start when they are missing."""
    return [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
             "metadata": {"name": name, "annotations": {
                 DEFAULT_CLASS_ANNOTATION: "true" if default else "false"}},
             "provisioner": LOCAL_PROVISIONER, "reclaimPolicy": "Delete",
             "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}
            for name, default in BUILT_IN_CLASSES]
