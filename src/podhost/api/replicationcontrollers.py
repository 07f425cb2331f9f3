"""v1 ReplicationControllers, pure (pkg/apis/core defaults and ValidateReplicationController
Spec): replicas 1 and the template's labels as the selector by default, a map selector that must
match the template, and kubectl's columns (as a ReplicaSet's)."""

from __future__ import annotations

from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import GE0, go_labels, validate_template


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def default_spec(spec: Obj) -> None:
    """SetDefaults_ReplicationController: replicas 1; selector (and labels) from the
    template's labels."""
    spec.setdefault("replicas", 1)
    labels = _dict(_dict(_dict(spec.get("template")).get("metadata")).get("labels"))
    if labels and not spec.get("selector"):
        spec["selector"] = dict(labels)


def default(rc: Obj) -> None:
    """The object's labels default to the template's too."""
    m = rc.setdefault("metadata", {})
    labels = _dict(_dict(_dict(_dict(rc.get("spec")).get("template")).get("metadata"))
                   .get("labels"))
    if labels and not m.get("labels"):
        m["labels"] = dict(labels)


def spec_errors(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errs.append(errors.invalid("spec.replicas", replicas, GE0))
    ready = spec.get("minReadySeconds")
    if isinstance(ready, int) and ready < 0:
        errs.append(errors.invalid("spec.minReadySeconds", ready, GE0))
    selector = _dict(spec.get("selector"))
    if not selector:
        errs.append(errors.required("spec.selector", ""))
    template = spec.get("template")
    if template is None:
        return [*errs, errors.required("spec.template", "")]
    labels = _dict(_dict(_dict(template).get("metadata")).get("labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.append(errors.invalid("spec.template.metadata.labels", go_labels(labels),
                                   "`selector` does not match template `labels`"))
    return errs + validate_template(template, "spec.template", ["Always"])


def label_selector(rc: Obj) -> Obj:
    """The map selector as a LabelSelector (what the ReplicaSet controller matches with)."""
    return {"matchLabels": _dict(_dict(rc.get("spec")).get("selector"))}
