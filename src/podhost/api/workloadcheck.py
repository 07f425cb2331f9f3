"""The validation entry for apps/v1 and batch/v1 workloads: create (ValidateDeployment, ...)
and update (ValidateDeploymentUpdate, ...), raising a 422 InvalidError."""

from __future__ import annotations

from typing import Any

from podhost.api import batch_validation, errors, meta, validation
from podhost.api import workload_validation as apps
from podhost.api.errors import FieldError
from podhost.api.types import Obj

_SPECS = {"deployments": apps.deployment_spec_errors, "replicasets": apps.replicaset_spec_errors,
          "statefulsets": apps.statefulset_spec_errors,
          "daemonsets": apps.daemonset_spec_errors,
          "jobs": lambda spec: batch_validation.job_spec_errors(spec, "spec"),
          "cronjobs": batch_validation.cronjob_spec_errors}
# StatefulSet spec fields an update may change (ValidateStatefulSetUpdate)
STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
               "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _metadata(resource: str, m: Obj) -> list[FieldError]:
    errs = validation.validate_metadata(m)
    name = m.get("name") or ""
    if resource == "cronjobs" and len(name) > batch_validation.CRONJOB_NAME_MAX:
        errs.append(errors.invalid("metadata.name", name, "must be no more than 52 characters"))
    if resource == "statefulsets" and name and not errs:
        errs += [errors.invalid("metadata.name", name, msg)
                 for msg in meta.dns1123_label_errors(name)]
    return errs


def spec_errors(resource: str, obj: Obj) -> list[FieldError]:
    errs = _metadata(resource, _dict(obj.get("metadata")))
    return errs + _SPECS[resource](_dict(obj.get("spec")))


def _update_errors(resource: str, new: Obj, old: Obj) -> list[FieldError]:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    errs: list[FieldError] = []
    if resource in ("deployments", "replicasets", "daemonsets", "statefulsets") and \
            spec.get("selector") != old_spec.get("selector"):
        errs.append(errors.invalid("spec.selector", apps.go_selector(spec.get("selector")),
                                   "field is immutable"))
    if resource == "statefulsets":
        rest = {k: v for k, v in spec.items() if k not in STS_MUTABLE}
        old_rest = {k: v for k, v in old_spec.items() if k not in STS_MUTABLE}
        if rest != old_rest:
            errs.append(errors.forbidden("spec", "updates to statefulset spec for fields other "
                                         "than 'replicas', 'ordinals', 'template', "
                                         "'updateStrategy', "
                                         "'persistentVolumeClaimRetentionPolicy' and "
                                         "'minReadySeconds' are forbidden"))
    if resource == "jobs":
        errs += batch_validation.job_update_errors(new, old)
    return errs


def validate(resource: str, obj: Obj, old: Obj | None = None) -> None:
    """422 when the workload is invalid (on update: also what may not change)."""
    errs = spec_errors(resource, obj)
    if old is not None:
        errs += _update_errors(resource, obj, old)
    if errs:
        raise errors.InvalidError(apps.KINDS[resource],
                                  _dict(obj.get("metadata")).get("name", ""), errs)
