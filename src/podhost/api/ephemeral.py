"""Ephemeral containers in the API server's words (Kubernetes 1.32's validateEphemeralContainers,
ValidatePodCreate and ValidatePodEphemeralContainersUpdate), and the `pods/ephemeralcontainers`
strategy: an update through the subresource changes `spec.ephemeralContainers` and nothing else.

Pure: returns FieldErrors or new objects; never mutates its inputs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj

FORBIDDEN_TEXT = "cannot be set for an Ephemeral Container"
# allowedEphemeralContainerFields of 1.32, by JSON name (everything else must stay unset)
ALLOWED_FIELDS = frozenset({
    "name", "image", "command", "args", "workingDir", "envFrom", "env", "volumeMounts",
    "volumeDevices", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy",
    "securityContext", "stdin", "stdinOnce", "tty", "targetContainerName"})
# the EphemeralContainerCommon fields in Go's struct order (validateFieldAllowList walks them)
COMMON_FIELDS = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty")
ContainerCheck = Callable[[Obj, str], list[FieldError]]


def ephemeral_containers(pod: Obj) -> list[Obj]:
    return list((pod.get("spec") or {}).get("ephemeralContainers") or [])


def _zero(value: Any) -> bool:
    return value in (None, "", 0, False) or value == {} or value == []


def validate(spec: Obj, check_container: ContainerCheck) -> list[FieldError]:
    """validateEphemeralContainers: `check_container` is validateContainerCommon."""
    errs: list[FieldError] = []
    others = {c.get("name") for key in ("containers", "initContainers")
              for c in spec.get(key) or [] if isinstance(c, dict)}
    names = set(others)
    for i, ec in enumerate(spec.get("ephemeralContainers") or []):
        path = f"spec.ephemeralContainers[{i}]"
        if not isinstance(ec, dict):
            continue
        errs += check_container(ec, path)
        name = ec.get("name")
        if name in names:
            errs.append(errors.duplicate(f"{path}.name", name))
        names.add(name)
        target = ec.get("targetContainerName")
        if target and target not in others:
            errs.append(errors.not_found(f"{path}.targetContainerName", target))
        errs += [errors.forbidden(f"{path}.{key}", FORBIDDEN_TEXT) for key in COMMON_FIELDS
                 if key not in ALLOWED_FIELDS and not _zero(ec.get(key))]
        for j, mount in enumerate(ec.get("volumeMounts") or []):
            for key in ("subPath", "subPathExpr"):
                if isinstance(mount, dict) and mount.get(key):
                    errs.append(errors.forbidden(f"{path}.volumeMounts[{j}].{key}",
                                                 FORBIDDEN_TEXT))
    return errs


def create_errors(pod: Obj) -> list[FieldError]:
    """ValidatePodCreate: only the subresource adds ephemeral containers."""
    if ephemeral_containers(pod):
        return [errors.forbidden("spec.ephemeralContainers", "cannot be set on create")]
    return []


def _diff(old: Obj, new: Obj) -> str:
    before, after = json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True)
    return f"- {before}\n+ {after}"


def update_errors(new: Obj, old: Obj) -> list[FieldError]:
    """ValidatePodEphemeralContainersUpdate, part 2: existing ones stay as they are."""
    if "kubernetes.io/config.mirror" in (old.get("metadata", {}).get("annotations") or {}):
        return [errors.forbidden("", "static pods do not support ephemeral containers")]
    errs: list[FieldError] = []
    by_name = {c.get("name"): c for c in ephemeral_containers(new) if isinstance(c, dict)}
    for before in ephemeral_containers(old):
        name = before.get("name")
        after = by_name.get(name)
        if after is None:
            errs.append(errors.forbidden("spec.ephemeralContainers", f'existing ephemeral '
                                         f'containers "{name}" may not be removed\n'))
        elif after != before:
            errs.append(errors.forbidden("spec.ephemeralContainers", f'existing ephemeral '
                                         f'containers "{name}" may not be changed\n'
                                         + _diff(before, after)))
    return errs


def terminated_errors(old: Obj, new: Obj) -> list[FieldError]:
    """A Pod that has completed runs nothing more: a new ephemeral container would never start
    (kubelet no longer syncs the Pod), so podhost refuses it instead of leaving it waiting."""
    phase = (old.get("status") or {}).get("phase")
    known = {c.get("name") for c in ephemeral_containers(old)}
    added = [c.get("name") for c in ephemeral_containers(new) if c.get("name") not in known]
    if added and phase in ("Succeeded", "Failed"):
        return [errors.forbidden("spec.ephemeralContainers", f"cannot add ephemeral container "
                                 f'"{added[0]}": the pod has completed (phase {phase})')]
    return []


def prepare_update(new: Obj, old: Obj) -> Obj:
    """dropNonEphemeralContainerUpdates: the old Pod with the new ephemeral containers (and the
    new resourceVersion, for optimistic concurrency)."""
    result = copy.deepcopy(old)
    result.setdefault("spec", {})["ephemeralContainers"] = copy.deepcopy(
        (new.get("spec") or {}).get("ephemeralContainers") or [])
    if not result["spec"]["ephemeralContainers"]:
        del result["spec"]["ephemeralContainers"]
    rv = (new.get("metadata") or {}).get("resourceVersion")
    if rv:
        result["metadata"]["resourceVersion"] = rv
    return result


def keep_on_update(new: Obj, old: Obj) -> None:
    """An update of the Pod itself leaves the ephemeral containers as they are (they change
    only through the subresource)."""
    spec = new.setdefault("spec", {})
    before = (old.get("spec") or {}).get("ephemeralContainers")
    if before:
        spec["ephemeralContainers"] = copy.deepcopy(before)
    else:
        spec.pop("ephemeralContainers", None)
