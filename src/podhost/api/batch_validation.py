"""batch/v1 Job and CronJob validation in the API server's words
(pkg/apis/batch/validation/validation.go)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from podhost.api import cron, errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import (
    GE0,
    GoValue,
    _dict,
    _nonnegative,
    _selector,
    validate_template,
)

JOB_POLICIES = ["OnFailure", "Never"]
CRONJOB_NAME_MAX = 52
MODES = ["NonIndexed", "Indexed"]
FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]


def _pod_failure_policy(policy: Obj, path: str, restart: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    if restart != "Never":
        errs.append(errors.invalid("spec.template.spec.restartPolicy", restart,
                                   "only \"Never\" is supported when podFailurePolicy is "
                                   "specified"))
    for i, rule in enumerate(policy.get("rules") or []):
        rpath = f"{path}.rules[{i}]"
        action = rule.get("action")
        if action not in FAILURE_ACTIONS:
            errs.append(errors.not_supported(f"{rpath}.action", action, FAILURE_ACTIONS))
        on_codes, on_conditions = rule.get("onExitCodes"), rule.get("onPodConditions")
        if on_codes is None and on_conditions is None:
            errs.append(errors.invalid(rpath, "", "specifying one of OnExitCodes and "
                                       "OnPodConditions is required"))
        if on_codes is not None:
            op = _dict(on_codes).get("operator")
            if op not in ("In", "NotIn"):
                errs.append(errors.not_supported(f"{rpath}.onExitCodes.operator", op,
                                                 ["In", "NotIn"]))
            if not _dict(on_codes).get("values"):
                errs.append(errors.required(f"{rpath}.onExitCodes.values", ""))
    return errs


def job_spec_errors(spec: Obj, path: str, generated: bool = True) -> list[FieldError]:
    """validateJobSpec; `generated`: the selector was filled in by the server."""
    template = _dict(spec.get("template"))
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "backoffLimit"):
        errs += _nonnegative(spec, key, path)
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        errs.append(errors.invalid(f"{path}.activeDeadlineSeconds", deadline,
                                   "must be greater than 0"))
    ttl = spec.get("ttlSecondsAfterFinished")
    if isinstance(ttl, int) and ttl < 0:
        errs.append(errors.invalid(f"{path}.ttlSecondsAfterFinished", ttl, GE0))
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in MODES:
        errs.append(errors.not_supported(f"{path}.completionMode", mode, MODES))
    elif mode == "Indexed":
        if spec.get("completions") is None:
            errs.append(errors.required(f"{path}.completions",
                                        "when completion mode is Indexed"))
        elif isinstance(spec.get("completions"), int) and spec["completions"] > 10**5:
            errs.append(errors.invalid(f"{path}.completions", spec["completions"],
                                       "must be less than or equal to 100000 when completion "
                                       "mode is Indexed"))
    if generated or spec.get("selector") is not None:
        errs += _selector(spec, path, _dict(template.get("metadata")).get("labels"), "job")
    errs += validate_template(spec.get("template"), f"{path}.template", JOB_POLICIES)
    restart = _dict(template.get("spec")).get("restartPolicy")
    if spec.get("podFailurePolicy") is not None:
        errs += _pod_failure_policy(_dict(spec["podFailurePolicy"]), f"{path}.podFailurePolicy",
                                    restart)
    return errs


def cronjob_spec_errors(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(errors.required("spec.schedule", ""))
    elif "TZ=" in str(schedule):
        errs.append(errors.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in "
                                   "schedule, use timeZone field instead"))
    else:
        try:
            cron.parse(str(schedule))
        except cron.CronError as e:
            errs.append(errors.invalid("spec.schedule", schedule, str(e)))
    zone = spec.get("timeZone")
    if zone is not None:
        try:
            if not zone or zone.lower() == "local":
                raise zoneinfo.ZoneInfoNotFoundError(zone)
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errs.append(errors.invalid("spec.timeZone", zone, f"unknown time zone {zone}"))
    policies = ["Allow", "Forbid", "Replace"]
    if spec.get("concurrencyPolicy") not in policies:
        errs.append(errors.not_supported("spec.concurrencyPolicy", spec.get("concurrencyPolicy"),
                                         policies))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                "failedJobsHistoryLimit"):
        errs += _nonnegative(spec, key, "spec")
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    errs += job_spec_errors(job_spec, "spec.jobTemplate.spec", generated=False)
    return errs


def job_update_errors(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateJobSpecUpdate: what may not change once a Job exists."""
    errs: list[FieldError] = []
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    for key in ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        if spec.get(key) != old_spec.get(key):
            errs.append(errors.invalid(f"spec.{key}", _render(spec.get(key)),
                                       "field is immutable"))
    if spec.get("completions") != old_spec.get("completions") and not (
            spec.get("completionMode") == "Indexed"
            and spec.get("completions") == spec.get("parallelism")):
        errs.append(errors.invalid("spec.completions", spec.get("completions"),
                                   "field is immutable"))
    suspended = old_spec.get("suspend") and not (old.get("status") or {}).get("startTime")
    if spec.get("template") != old_spec.get("template") and not suspended:
        errs.append(errors.invalid("spec.template", _render(spec.get("template")),
                                   "field is immutable"))
    return errs


def _render(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return GoValue("core.PodTemplateSpec{...}" if isinstance(value, dict) and
                       "spec" in value else str(value))
    return value
