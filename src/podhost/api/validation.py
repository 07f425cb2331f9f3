"""Validation in the API server's words: field paths, messages and check order of ValidatePod.

Pure: returns or raises api.errors; never mutates the object.
"""

from __future__ import annotations

import posixpath
from typing import Any

from podhost.api import (
    containers,
    ephemeral,
    errors,
    meta,
    quantity,
    registry,
    schema,
    volumeclaims,
)
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.errors import FieldError
from podhost.api.types import Obj

# validateVolumeSource's order in 1.32 (pkg/apis/core/validation/validation.go): the first
# source found is validated, each later one is "Forbidden: may not specify more than 1 volume
# type" at the path 1.32 names it by (its spellings "cephFS" and "downwarAPI" kept)
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image")
_EXTRA_SOURCE_PATHS = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
# volume sources podhost runs today; the others are refused rather than silently ignored
SUPPORTED_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected",
                     "image", "persistentVolumeClaim", "ephemeral")
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]


def _kind(resource: str) -> str:
    return registry.kind_of(resource)


def _as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def check_decodable(resource: str, obj: Obj) -> None:
    """What fails decoding on a real server (400): mistyped values, malformed quantities
    (both read from the schema)."""
    kind = _kind(resource)
    if custom_resources.get(resource) is not None:
        return  # a custom object's types are its schema's validation (422, not 400)
    problem = schema.type_error(kind, obj)
    if problem:
        raise errors.BadRequestError(f'{kind} in version "v1" cannot be handled as a {kind}: '
                                     f"{problem}")


def unknown_fields(resource: str, obj: Obj, mode: str | None) -> list[str]:
    """Drop fields the 1.32 schema does not know (in place) and apply fieldValidation.

    Strict → BadRequestError with the strict decoder's text; Warn (the default) → the warnings
    to send; Ignore → nothing. The stored object never keeps an unknown field.
    """
    kind = _kind(resource)
    custom = custom_resources.get(resource)
    pruned = custom.prune(obj) if custom is not None else schema.prune_unknown(kind, obj)
    found = [f'unknown field "{path}"' for path in pruned]
    if not found or mode == "Ignore":
        return []
    if mode == "Strict":
        raise errors.BadRequestError(f'{kind} in version "v1" cannot be handled as a {kind}: '
                                     f'strict decoding error: {", ".join(found)}')
    return found


def validate_ephemeral_update(new: Obj, old: Obj, node_name: str | None = None) -> None:
    """An update through `pods/ephemeralcontainers` (ValidatePodEphemeralContainersUpdate)."""
    errs = validate_pod(new)
    errs += unsupported_pod_fields(new, node_name)
    errs += ephemeral.update_errors(new, old)
    errs += ephemeral.terminated_errors(old, new)
    if errs:
        raise errors.InvalidError("Pod", new["metadata"].get("name", ""), errs)


def _label(value: str, field: str) -> list[FieldError]:
    return [errors.invalid(field, value, msg) for msg in meta.dns1123_label_errors(value)]


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
    errs = _first_source(vol, sources[0], path)
    errs += [errors.forbidden(f"{path}.{_EXTRA_SOURCE_PATHS.get(k, k)}",
                              "may not specify more than 1 volume type") for k in sources[1:]]
    return errs


def _first_source(vol: Obj, source: str, path: str) -> list[FieldError]:
    if source == "emptyDir":
        limit = (vol["emptyDir"] or {}).get("sizeLimit")
        if limit is not None and quantity.parse(str(limit)) < 0:
            return [errors.forbidden(f"{path}.emptyDir.sizeLimit",
                                     "SizeLimit field must be a valid resource quantity")]
    elif source == "image":
        return _image_volume_source(_as_dict(vol["image"]), f"{path}.image")
    elif source in ("persistentVolumeClaim", "ephemeral"):
        return volumeclaims.pod_volume_errors(_as_dict(vol[source]), source, f"{path}.{source}")
    elif source not in SUPPORTED_SOURCES:
        return [errors.forbidden(f"{path}.{source}",
                                 f"{source} volumes are not supported by podhost yet")]
    return []


def _image_volume_source(source: Obj, path: str) -> list[FieldError]:
    """validateImageVolumeSource: a reference (for Pods), and validatePullPolicy."""
    errs = [] if source.get("reference") else [errors.required(f"{path}.reference")]
    policy = source.get("pullPolicy") or ""
    if not policy:
        errs.append(errors.required(f"{path}.pullPolicy"))
    elif policy not in PULL_POLICIES:
        errs.append(errors.not_supported(f"{path}.pullPolicy", policy, PULL_POLICIES))
    return errs


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
    """validateContainerCommon, in Kubernetes' order."""
    errs: list[FieldError] = []
    name = c.get("name") or ""
    errs += [errors.required(f"{path}.name")] if not name else _label(name, f"{path}.name")
    if not c.get("image"):
        errs.append(errors.required(f"{path}.image"))
    policy = c.get("terminationMessagePolicy")
    if policy not in (None, "File", "FallbackToLogsOnError"):
        errs.append(errors.not_supported(f"{path}.terminationMessagePolicy", policy,
                                         ["File", "FallbackToLogsOnError"]))
    errs += containers.validate_container_fields(c, path)
    errs += _volume_mounts(c, path, volumes)
    pull = c.get("imagePullPolicy")
    if pull not in PULL_POLICIES:
        errs.append(errors.not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    errs += containers.validate_container_tail(c, path)
    return errs


def _container_list(spec: Obj, key: str, volumes: dict[str, Obj],
                    names: set[Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, c in enumerate(spec.get(key) or []):
        path = f"spec.{key}[{i}]"
        errs += _container(c, path, volumes)
        if c.get("name") in names:
            errs.append(errors.duplicate(f"{path}.name", c.get("name")))
        names.add(c.get("name"))
        if key == "containers":
            errs += containers.validate_app_container_hooks(c, path)
        else:
            errs += containers.validate_init_container_hooks(c, path)
    return errs


def validate_pod(pod: Obj) -> list[FieldError]:
    """ValidatePodSpec and the Pod's own rules (its ObjectMeta is checked by the registry)."""
    errs: list[FieldError] = []
    spec = pod.get("spec") or {}
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        errs.append(errors.invalid("spec.terminationGracePeriodSeconds", grace,
                                   "must be greater than or equal to 0"))
    volumes, vol_errs = validate_volumes(spec.get("volumes") or [])
    errs += vol_errs
    if not spec.get("containers"):
        errs.append(errors.required("spec.containers"))
    names: set[Any] = set()
    errs += _container_list(spec, "containers", volumes, names)
    errs += _container_list(spec, "initContainers", volumes, names)
    errs += ephemeral.validate(spec, lambda c, path: _container(c, path, volumes))
    errs += _host_network_ports(spec)
    errs += containers.host_port_conflicts(spec.get("containers") or [], "spec.containers")
    if spec.get("restartPolicy") not in RESTART_POLICIES:
        errs.append(errors.not_supported("spec.restartPolicy", spec.get("restartPolicy"),
                                         RESTART_POLICIES))
    if spec.get("dnsPolicy") not in DNS_POLICIES:
        errs.append(errors.not_supported("spec.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES))
    errs += containers.validate_security_context(spec.get("securityContext"),
                                                 "spec.securityContext")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.append(errors.invalid("spec.activeDeadlineSeconds", deadline,
                                   "must be between 1 and 2147483647, inclusive"))
    return errs


def _host_network_ports(spec: Obj) -> list[FieldError]:
    """validateHostNetwork: with hostNetwork, a hostPort must be its containerPort."""
    if not spec.get("hostNetwork"):
        return []
    errs = []
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            for j, port in enumerate(c.get("ports") or []):
                if port.get("hostPort") != port.get("containerPort"):
                    errs.append(errors.invalid(f"spec.{key}[{i}].ports[{j}].containerPort",
                                               port.get("containerPort"),
                                               "must match `hostPort` when `hostNetwork` is true"))
    return errs


def _security_contexts(spec: Obj) -> list[tuple[str, Obj | None]]:
    out = [("spec.securityContext", spec.get("securityContext"))]
    for kind in ("initContainers", "containers"):
        out += [(f"spec.{kind}[{i}].securityContext", c.get("securityContext"))
                for i, c in enumerate(spec.get(kind) or [])]
    return out


def unsupported_pod_fields(pod: Obj, node_name: str | None = None) -> list[FieldError]:
    """Fields a real API server accepts but podhost cannot honour: refused, never ignored.

    `node_name` is this node's name; a Pod bound to another node is refused when it is given.
    """
    spec = pod.get("spec") or {}
    errs = []
    if spec.get("hostUsers") is False:
        errs.append(errors.forbidden("spec.hostUsers", "podhost does not support user "
                                     "namespaces yet"))
    for path, sc in _security_contexts(spec):
        if ((sc or {}).get("appArmorProfile") or {}).get("type") == "Localhost":
            errs.append(errors.forbidden(f"{path}.appArmorProfile.type", "podhost does not "
                                         "load AppArmor profiles"))
    return errs + node_binding_errors(pod, node_name)


def node_binding_errors(pod: Obj, node_name: str | None) -> list[FieldError]:
    """A Pod bound to another node than `node_name` (this node) is refused."""
    bound = (pod.get("spec") or {}).get("nodeName")
    if node_name and bound and bound != node_name:
        return [errors.forbidden("spec.nodeName", f'podhost runs only the Pods of its own '
                                 f'node "{node_name}", not of node "{bound}"')]
    return []
