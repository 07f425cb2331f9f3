"""apps/v1 and batch/v1 workloads as the API server stores them: defaults (SetDefaults_* of
apps/v1 and batch/v1), the create and update rules of their registry strategies (generation,
status kept apart from spec, a Job's generated selector), LabelSelector matching and the
Scale subresource.

Pure functions over wire dicts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from podhost.api import defaults, errors
from podhost.api.types import Obj
from podhost.api.workload_validation import selector_matches as selector_matches

# what SetDefaults_PodSpec does not set on a template (admission and SetDefaults_Pod do, on Pods)
_POD_ONLY_DEFAULTS = ("enableServiceLinks", "priority", "preemptionPolicy",
                      "serviceAccountName", "serviceAccount", "tolerations")
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def default_template(template: Any) -> None:
    """A PodTemplateSpec's defaults: a Pod's, without those only Pods get."""
    if not isinstance(template, dict):
        return
    spec = template.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    given = set(spec)
    defaults.default_pod({"spec": spec})
    for key in _POD_ONLY_DEFAULTS:
        if key not in given:
            spec.pop(key, None)


def default_deployment(spec: Obj) -> None:
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def default_statefulset(spec: Obj) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    policy = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    if isinstance(policy, dict):
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")


def default_daemonset(spec: Obj) -> None:
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def default_job_spec(spec: Obj) -> None:
    """SetDefaults_Job on a JobSpec."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", None)
    if spec["manualSelector"] is None:
        spec.pop("manualSelector")
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")


def default_cronjob(spec: Obj) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    default_template(job_spec.get("template"))


def default_replicaset(spec: Obj) -> None:
    spec.setdefault("replicas", 1)


def default_spec(spec: Any, default: Callable[[Obj], None]) -> None:
    """A workload's spec defaults, and its Pod template's."""
    if isinstance(spec, dict):
        default(spec)
        default_template(spec.get("template"))


def generate_job_selector(job: Obj) -> None:
    """A Job without manualSelector selects its Pods by its uid (generateSelector)."""
    spec, m = job.setdefault("spec", {}), job["metadata"]
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    labels = _dict(template.setdefault("metadata", {})).setdefault("labels", {})
    if isinstance(labels, dict):
        for key in JOB_UID_LABELS:
            labels[key] = m["uid"]
        for key in JOB_NAME_LABELS:
            labels[key] = m.get("name", "")
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: m["uid"]}}


def prepare_create(obj: Obj, default: Callable[[Obj], None]) -> Obj:
    """PrepareForCreate: generation 1, defaults."""
    obj["metadata"]["generation"] = 1
    default_spec(obj.setdefault("spec", {}), default)
    return obj


def prepare_update(new: Obj, old: Obj, default: Callable[[Obj], None]) -> Obj:
    """PrepareForUpdate of the main resource: status is kept; a changed spec bumps the
    generation."""
    new["status"] = copy.deepcopy(old.get("status", {}))
    default_spec(new.setdefault("spec", {}), default)
    generation = int(old["metadata"].get("generation") or 1)
    new["metadata"]["generation"] = generation + 1 if new.get("spec") != old.get("spec") \
        else generation
    return new


def keep_job_labels(new_spec: Obj, old_spec: Obj) -> None:
    """The generated labels are the server's: a client update may have left them out."""
    if old_spec.get("manualSelector"):
        return
    old_labels = _dict(_dict(_dict(old_spec.get("template")).get("metadata")).get("labels"))
    template = new_spec.get("template")
    if not isinstance(template, dict):
        return
    labels = _dict(template.setdefault("metadata", {})).setdefault("labels", {})
    if isinstance(labels, dict):
        for key in (*JOB_UID_LABELS, *JOB_NAME_LABELS):
            if key in old_labels:
                labels.setdefault(key, old_labels[key])
    if new_spec.get("selector") is None and old_spec.get("selector") is not None:
        new_spec["selector"] = copy.deepcopy(old_spec["selector"])


# -- LabelSelector ---------------------------------------------------------------------------------
def selector_string(selector: Any) -> str:
    """The selector as labels.Selector.String() prints it (Scale's status.selector)."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), sorted(req.get("values") or [])
        if op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(sorted(parts))


# -- Scale -----------------------------------------------------------------------------------------
def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of a Deployment, ReplicaSet or StatefulSet."""
    m = obj["metadata"]
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    meta = {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                              "creationTimestamp") if k in m}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": selector_string(spec.get("selector"))}}


def apply_scale(obj: Obj, scale: Any) -> Obj:
    """The object with the replicas a written Scale asks for (422 as ValidateScale says)."""
    if not isinstance(scale, dict):
        raise errors.BadRequestError("the body must be a Scale object")
    replicas = _dict(scale.get("spec")).get("replicas", 0)
    name = obj["metadata"]["name"]
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.BadRequestError('Scale in version "v1" cannot be handled as a Scale: '
                                     "json: cannot unmarshal into Go struct field "
                                     "ScaleSpec.spec.replicas of type int32")
    if replicas < 0:
        raise errors.InvalidError("Scale.autoscaling", name, [errors.invalid(
            "spec.replicas", replicas, "must be greater than or equal to 0")])
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = replicas
    return new
