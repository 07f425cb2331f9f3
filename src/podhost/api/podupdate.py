"""What a Pod update may change (ValidatePodUpdate): images, activeDeadlineSeconds, added
tolerations, and terminationGracePeriodSeconds from negative to 1; anything else is Forbidden.

The Forbidden message's first line is Kubernetes 1.32's exactly; the diff after it is simpler
than Go's `cmp.Diff` of the internal PodSpec: one `- path: old` / `+ path: new` pair per leaf.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj

UPDATABLE_FIELDS = ",".join([
    "`spec.containers[*].image`", "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`", "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)"])
FORBIDDEN_UPDATE = f"pod updates may not change fields other than {UPDATABLE_FIELDS}"
MAX_INT32 = 2**31 - 1


def _container_updates(new: list[Obj], old: list[Obj], path: str) -> tuple[list[FieldError],
                                                                            bool]:
    """ValidateContainerUpdates: same number of containers, every image set."""
    if len(new) != len(old):
        return [errors.forbidden(path, "pod updates may not add or remove containers")], True
    return [errors.required(f"{path}[{i}].image") for i, c in enumerate(new)
            if not c.get("image")], False


def _active_deadline(new: Obj, old: Obj) -> list[FieldError]:
    field = "spec.activeDeadlineSeconds"
    value, before = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if value is not None:
        if not 0 <= value <= MAX_INT32:
            return [errors.invalid(field, value, f"must be between 0 and {MAX_INT32}, "
                                   "inclusive")]
        if before is not None and before < value:
            return [errors.invalid(field, value, "must be less than or equal to previous value")]
    elif before is not None:
        return [errors.invalid(field, None, "must not update from a positive integer to nil "
                               "value")]
    return []


def _munged(new: Obj, old: Obj) -> Obj:
    """`new` with every field a Pod update may change set back to its old value."""
    munged = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        for c, before in zip(munged.get(key) or [], old.get(key) or []):
            c["image"] = before.get("image")
    munged["activeDeadlineSeconds"] = old.get("activeDeadlineSeconds")
    old_tolerations = old.get("tolerations") or []
    if all(t in (new.get("tolerations") or []) for t in old_tolerations):
        munged["tolerations"] = old.get("tolerations")
    old_grace = old.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and new.get(
            "terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return {k: v for k, v in munged.items() if v is not None}


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}.{key}")
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def spec_diff(old: Obj, new: Obj) -> str:
    before, after = dict(_leaves(old, "spec")), dict(_leaves(new, "spec"))
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path, ...) != after.get(path, ...):
            if path in before:
                lines.append(f"-  {path}: {json.dumps(before[path])}")
            if path in after:
                lines.append(f"+  {path}: {json.dumps(after[path])}")
    return "\n".join(lines)


def pod_spec_update_errors(new: Obj, old: Obj) -> list[FieldError]:
    errs, stop = _container_updates(new.get("containers") or [], old.get("containers") or [],
                                     "spec.containers")
    if stop:
        return errs
    init_errs, stop = _container_updates(new.get("initContainers") or [],
                                         old.get("initContainers") or [], "spec.initContainers")
    errs += init_errs
    if stop:
        return errs
    deadline = _active_deadline(new, old)
    if deadline:
        return errs + deadline
    munged = _munged(new, old)
    reference = {k: v for k, v in old.items() if v is not None}
    if munged != reference:
        errs.append(errors.forbidden("spec", FORBIDDEN_UPDATE + "\n" + spec_diff(reference,
                                                                                  munged)))
    return errs
