"""apps/v1 and batch/v1 workloads as the API server stores them: defaults (SetDefaults_* of
apps/v1 and batch/v1), the create and update rules of their registry strategies (generation,
status kept apart from spec, a Job's generated selector), LabelSelector matching and the
Scale subresource.

Pure functions over wire dicts.
"""

from __future__ import annotations

import copy
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


def _default_deployment(spec: Obj) -> None:
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


def _default_statefulset(spec: Obj) -> None:
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


def _default_daemonset(spec: Obj) -> None:
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


def _default_cronjob(spec: Obj) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    default_template(job_spec.get("template"))


def _default_replicaset(spec: Obj) -> None:
    spec.setdefault("replicas", 1)


_DEFAULTS = {"deployments": _default_deployment, "statefulsets": _default_statefulset,
             "daemonsets": _default_daemonset, "jobs": default_job_spec,
             "cronjobs": _default_cronjob,
             "replicasets": _default_replicaset}


def default_workload(resource: str, obj: Obj) -> Obj:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict) and resource in _DEFAULTS:
        _DEFAULTS[resource](spec)
        default_template(spec.get("template"))
    return obj


def _generate_job_selector(job: Obj) -> None:
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


# -- status defaults on create (issue 24, wire: until the per-resource strategies hold them) --
# The zero status the API server's encoder writes: its fields without omitempty (k8s.io/api
# apps/v1 types.go). The official Python client refuses a DaemonSet without them.
ZERO_STATUS: dict[str, Obj] = {
    "daemonsets": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                   "desiredNumberScheduled": 0, "numberReady": 0},
    "replicasets": {"replicas": 0},
    "statefulsets": {"replicas": 0, "availableReplicas": 0},
}
# -- end of status defaults on create --


def prepare_create(resource: str, obj: Obj) -> Obj:
    """PrepareForCreate: generation 1, the zero status, defaults (and a Job's selector)."""
    obj["metadata"]["generation"] = 1
    obj["status"] = dict(ZERO_STATUS.get(resource, {}))
    default_workload(resource, obj)
    if resource == "jobs":
        _generate_job_selector(obj)
    return obj


def prepare_update(resource: str, new: Obj, old: Obj) -> Obj:
    """PrepareForUpdate of the main resource: status is kept; a changed spec bumps the
    generation."""
    new["status"] = copy.deepcopy(old.get("status", {}))
    default_workload(resource, new)
    generation = int(old["metadata"].get("generation") or 1)
    new_spec, old_spec = new.get("spec"), old.get("spec")
    changed = new_spec != old_spec
    if resource == "jobs" and isinstance(new_spec, dict) and isinstance(old_spec, dict):
        # the generated labels are the server's, a client update may have left them out
        _keep_job_labels(new_spec, old_spec)
        changed = new_spec != old_spec
    new["metadata"]["generation"] = generation + 1 if changed else generation
    return new


def _keep_job_labels(new_spec: Obj, old_spec: Obj) -> None:
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
