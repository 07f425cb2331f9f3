"""PriorityClasses (scheduling.k8s.io/v1) and RuntimeClasses (node.k8s.io/v1), pure:
validation, the built-in system priority classes, kubectl's columns, and their admission of a
new Pod (plugin/pkg/admission/priority and runtimeclass) with upstream's messages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from podhost.api import columns as cols
from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PREFIX = "system-"
SYSTEM_CLASSES: dict[str, tuple[int, str]] = {
    "system-node-critical": (2_000_001_000, "Used for system critical pods that must not be "
                             "moved from their current node."),
    "system-cluster-critical": (2_000_000_000, "Used for system critical pods that must run in "
                                "the cluster, but can be moved to another node if necessary."),
}
PREEMPTION = ["Never", "PreemptLowerPriority"]
HANDLERS = ("runc",)  # what the node runs
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PRIORITY_COLUMNS = (cols.NAME,
                    ("Value", "integer", "", 0, "The value of this priority class. This is the "
                     "actual priority that pods receive when they have the name of this class "
                     "in their pod spec."),
                    ("Global-Default", "boolean", "", 0, "globalDefault specifies whether this "
                     "PriorityClass should be considered as the default priority for pods that "
                     "do not have any priority class."),
                    cols.AGE,
                    ("PreemptionPolicy", "string", "", 0, "PreemptionPolicy is the Policy for "
                     "preempting pods with lower priority."))
RUNTIME_COLUMNS = (cols.NAME,
                   ("Handler", "string", "", 0, "Handler specifies the underlying runtime and "
                    "configuration that the CRI implementation will use to handle pods of this "
                    "class."), cols.AGE)


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def system_priority_classes() -> list[Obj]:
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": name}, "value": value, "description": description,
             "preemptionPolicy": "PreemptLowerPriority"}
            for name, (value, description) in SYSTEM_CLASSES.items()]


def default_priority_class(pc: Obj) -> None:
    pc.setdefault("preemptionPolicy", "PreemptLowerPriority")


def validate_priority_class(pc: Obj) -> list[FieldError]:
    name, value = _dict(pc.get("metadata")).get("name", ""), pc.get("value")
    errs: list[FieldError] = []
    if not isinstance(value, int) or isinstance(value, bool):
        errs.append(errors.required("value", ""))
    elif name in SYSTEM_CLASSES:
        if value != SYSTEM_CLASSES[name][0]:
            errs.append(errors.forbidden("metadata.name", f"{name} is a system priority class "
                                         "and may not be changed"))
    elif name.startswith(SYSTEM_PREFIX):
        errs.append(errors.forbidden("metadata.name", "priority class names with 'system-' "
                                     "prefix are reserved for system use only"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(errors.forbidden("value", "maximum allowed value of a user defined priority "
                                     f"is {HIGHEST_USER_PRIORITY}"))
    policy = pc.get("preemptionPolicy")
    if policy not in PREEMPTION:
        errs.append(errors.not_supported("preemptionPolicy", policy, PREEMPTION))
    return errs


def validate_priority_class_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_priority_class(new)
    if new.get("value") != old.get("value"):
        errs.append(errors.forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        errs.append(errors.invalid("preemptionPolicy", new.get("preemptionPolicy"),
                                   "field is immutable"))
    return errs


def priority_cells(pc: Obj, now: datetime) -> list[Any]:
    return [pc["metadata"]["name"], pc.get("value", 0), bool(pc.get("globalDefault")),
            cols.age(pc, now), pc.get("preemptionPolicy", "")]


def validate_runtime_class(rc: Obj) -> list[FieldError]:
    handler = rc.get("handler")
    if not handler:
        return [errors.required("handler", "")]
    if not isinstance(handler, str) or len(handler) > 63 or not DNS_LABEL.match(handler):
        return [errors.invalid("handler", handler, "a lowercase RFC 1123 label must consist of "
                               "lower case alphanumeric characters or '-', and must start and "
                               "end with an alphanumeric character (e.g. 'my-name',  or "
                               "'123-abc', regex used for validation is "
                               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
    return []


def validate_runtime_class_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_runtime_class(new)
    if new.get("handler") != old.get("handler"):
        errs.append(errors.invalid("handler", new.get("handler"), "field is immutable"))
    return errs


def runtime_cells(rc: Obj, now: datetime) -> list[Any]:
    return [rc["metadata"]["name"], rc.get("handler", ""), cols.age(rc, now)]


# -- admission of a new Pod ----------------------------------------------------------------------
def admit_priority(pod: Obj, classes: list[Obj]) -> str | None:
    """The Priority plugin: spec.priority (and preemptionPolicy) from priorityClassName or the
    global default; the reason for a 403, or None."""
    spec = pod.setdefault("spec", {})
    name = spec.get("priorityClassName")
    found = next((c for c in classes if (c["metadata"]["name"] == name if name else
                                         c.get("globalDefault"))), None)
    if found is None:
        if name:
            return f"no PriorityClass with name {name} was found"
        spec["priority"] = spec.get("priority") or 0
        return None
    spec["priorityClassName"] = found["metadata"]["name"]
    value = int(found.get("value", 0))
    given = spec.get("priority")
    if given not in (None, 0, value):  # 0: podhost's defaulting already gave every Pod one
        return (f"the integer value of priority ({given}) must not be provided in pod spec; "
                f"priority admission controller computed {value} from the given "
                "PriorityClass name")
    spec["priority"] = value
    spec.setdefault("preemptionPolicy", found.get("preemptionPolicy", "PreemptLowerPriority"))
    return None


def admit_runtime_class(pod: Obj, classes: list[Obj]) -> str | None:
    """The RuntimeClass plugin: the class must exist (and name a handler the node has); its
    overhead becomes the Pod's."""
    spec = pod.setdefault("spec", {})
    name = spec.get("runtimeClassName")
    if not name:
        return None
    found = next((c for c in classes if c["metadata"]["name"] == name), None)
    if found is None:
        return f'pod rejected: RuntimeClass "{name}" not found'
    if found.get("handler") not in HANDLERS:
        return (f'pod rejected: RuntimeClass "{name}" has handler "{found.get("handler")}": '
                "podhost runs the runc handler only")
    overhead = _dict(found.get("overhead")).get("podFixed")
    if overhead:
        if spec.get("overhead") not in (None, overhead):
            return "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
        spec["overhead"] = dict(overhead)
    elif spec.get("overhead"):
        return "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
    return None
