"""Validation in the API server's words: field paths, messages and check order of ValidatePod.

Pure: returns or raises api.errors; never mutates the object.
"""

from __future__ import annotations

import posixpath
from typing import Any

from podhost.api import errors, meta, quantity
from podhost.api.errors import FieldError

Obj = dict[str, Any]

VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image")
# volume sources podhost runs today; the others are refused rather than silently ignored
SUPPORTED_SOURCES = ("emptyDir",)
RESTART_POLICIES = ["Always", "OnFailure", "Never"]


def check_decodable(resource: str, obj: Obj) -> None:
    """What fails decoding on a real server (400), such as a malformed quantity."""
    if resource != "pods":
        return
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(c, dict):
            continue
        res = c.get("resources") if isinstance(c.get("resources"), dict) else {}
        for section in ("limits", "requests"):
            for value in (res.get(section) or {}).values():
                quantity.check(value, section)
    for v in spec.get("volumes") or []:
        if isinstance(v, dict) and isinstance(v.get("emptyDir"), dict) \
                and "sizeLimit" in v["emptyDir"]:
            quantity.check(v["emptyDir"]["sizeLimit"], "sizeLimit")


def unknown_fields(resource: str, obj: Obj, mode: str | None) -> list[str]:
    """Unknown-field detection for fieldValidation (Strict/Warn/Ignore); warnings to send."""
    return []


def validate(resource: str, obj: Obj) -> None:
    if resource == "pods":
        errs = validate_pod(obj)
        if errs:
            raise errors.InvalidError("Pod", obj.get("metadata", {}).get("name", ""), errs)


def validate_update(resource: str, new: Obj, old: Obj) -> None:
    if resource != "pods":
        return
    errs = validate_pod(new)
    if errs:
        raise errors.InvalidError("Pod", new["metadata"].get("name", ""), errs)


def _label(value: str, field: str) -> list[FieldError]:
    return [errors.invalid(field, value, msg) for msg in meta.dns1123_label_errors(value)]


def validate_metadata(m: Obj) -> list[FieldError]:
    name = m.get("name") or ""
    if not name:
        if m.get("generateName"):
            return []
        return [errors.required("metadata.name", "name or generateName is required")]
    return [errors.invalid("metadata.name", name, msg)
            for msg in meta.dns1123_subdomain_errors(name)]


def _local_descending_path(value: str, field: str) -> list[FieldError]:
    errs = []
    if posixpath.isabs(value):
        errs.append(errors.invalid(field, value, "must be a relative path"))
    if ".." in value.replace("\\", "/").split("/"):
        errs.append(errors.invalid(field, value, "must not contain '..'"))
    return errs


def validate_volumes(volumes: list[Obj]) -> tuple[dict[str, Obj], list[FieldError]]:
    names: dict[str, Obj] = {}
    all_errs: list[FieldError] = []
    for i, vol in enumerate(volumes):
        path = f"spec.volumes[{i}]"
        errs = _volume_source(vol, path)
        name = vol.get("name") or ""
        errs += [errors.required(f"{path}.name")] if not name else _label(name, f"{path}.name")
        if name in names:
            errs.append(errors.duplicate(f"{path}.name", name))
        if errs:
            all_errs += errs
        else:
            names[name] = vol
    return names, all_errs


def _volume_source(vol: Obj, path: str) -> list[FieldError]:
    sources = [k for k in VOLUME_SOURCES if vol.get(k) is not None]
    if not sources:
        return [errors.required(path, "must specify a volume type")]
    if len(sources) > 1:
        return [errors.forbidden(f"{path}.{sources[1]}", "may not specify more than 1 volume "
                                 "type")]
    source = sources[0]
    if source == "emptyDir":
        limit = (vol["emptyDir"] or {}).get("sizeLimit")
        if limit is not None and quantity.parse(str(limit)) < 0:
            return [errors.forbidden(f"{path}.emptyDir.sizeLimit",
                                     "SizeLimit field must be a valid resource quantity")]
    elif source not in SUPPORTED_SOURCES:
        return [errors.forbidden(f"{path}.{source}",
                                 f"{source} volumes are not supported by podhost yet")]
    return []


def _volume_mounts(c: Obj, path: str, volumes: dict[str, Obj]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    list_path = f"{path}.volumeMounts"
    for j, mnt in enumerate(c.get("volumeMounts") or []):
        idx = f"{list_path}[{j}]"
        name, mount_path = mnt.get("name") or "", mnt.get("mountPath") or ""
        if not name:
            errs.append(errors.required(f"{idx}.name"))
        if name not in volumes:
            errs.append(errors.not_found(f"{idx}.name", name))
        if not mount_path:
            errs.append(errors.required(f"{idx}.mountPath"))
        if mount_path in seen:
            errs.append(errors.invalid(f"{idx}.mountPath", mount_path, "must be unique"))
        seen.add(mount_path)
        if mnt.get("subPath"):
            errs += _local_descending_path(mnt["subPath"], f"{list_path}.subPath")
        if mnt.get("subPathExpr"):
            if mnt.get("subPath"):
                errs.append(errors.invalid(f"{idx}.subPathExpr", mnt["subPathExpr"],
                                           "subPathExpr and subPath are mutually exclusive"))
            errs += _local_descending_path(mnt["subPathExpr"], f"{list_path}.subPathExpr")
        prop = mnt.get("mountPropagation")
        if prop is not None:
            allowed = ["Bidirectional", "HostToContainer", "None"]
            if prop not in allowed:
                errs.append(errors.not_supported(f"{list_path}.mountPropagation", prop, allowed))
            elif prop == "Bidirectional" and not (c.get("securityContext") or {}).get(
                    "privileged"):
                errs.append(errors.forbidden(f"{list_path}.mountPropagation", "Bidirectional "
                                             "mount propagation is available only to privileged "
                                             "containers"))
    return errs


def _container(c: Obj, path: str, volumes: dict[str, Obj]) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name") or ""
    errs += [errors.required(f"{path}.name")] if not name else _label(name, f"{path}.name")
    if not c.get("image"):
        errs.append(errors.required(f"{path}.image"))
    policy = c.get("terminationMessagePolicy")
    if policy not in (None, "File", "FallbackToLogsOnError"):
        errs.append(errors.not_supported(f"{path}.terminationMessagePolicy", policy,
                                         ["File", "FallbackToLogsOnError"]))
    errs += _volume_mounts(c, path, volumes)
    pull = c.get("imagePullPolicy")
    if pull not in ("Always", "IfNotPresent", "Never"):
        errs.append(errors.not_supported(f"{path}.imagePullPolicy", pull,
                                         ["Always", "IfNotPresent", "Never"]))
    return errs


def validate_pod(pod: Obj) -> list[FieldError]:
    errs = validate_metadata(pod.get("metadata") or {})
    spec = pod.get("spec") or {}
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        errs.append(errors.invalid("spec.terminationGracePeriodSeconds", grace,
                                   "must be greater than or equal to 0"))
    volumes, vol_errs = validate_volumes(spec.get("volumes") or [])
    errs += vol_errs
    containers = spec.get("containers") or []
    if not containers:
        errs.append(errors.required("spec.containers"))
    names: set[str] = set()
    for i, c in enumerate(containers):
        path = f"spec.containers[{i}]"
        errs += _container(c, path, volumes)
        if c.get("name") in names:
            errs.append(errors.duplicate(f"{path}.name", c.get("name")))
        names.add(c.get("name"))
    for i, c in enumerate(spec.get("initContainers") or []):
        path = f"spec.initContainers[{i}]"
        errs += _container(c, path, volumes)
        if c.get("name") in names:
            errs.append(errors.duplicate(f"{path}.name", c.get("name")))
        names.add(c.get("name"))
    if spec.get("restartPolicy") not in RESTART_POLICIES:
        errs.append(errors.not_supported("spec.restartPolicy", spec.get("restartPolicy"),
                                         RESTART_POLICIES))
    return errs
