"""Validation of apps/v1 and batch/v1 workloads in the API server's words
(pkg/apis/apps/validation, pkg/apis/batch/validation): selectors that match the template's
labels, immutable selectors, replicas ≥ 0, the template's restartPolicy, rolling update
parameters, Job counts and completion modes, CronJob schedules and time zones.

The Pod template is checked as a Pod is (api/validation.validate_pod), its paths moved under
`spec.template` (or `spec.jobTemplate.spec.template`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from podhost.api import errors, meta, registry, validation
from podhost.api.errors import FieldError
from podhost.api.types import Obj

GE0 = "must be greater than or equal to 0"
_PERCENT = re.compile(r"^[0-9]+%$")
KINDS = {"deployments": "Deployment", "replicasets": "ReplicaSet",
         "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "jobs": "Job",
         "cronjobs": "CronJob"}


class GoValue:
    """A value rendered as the API server prints a Go struct (%#v) in a message."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def go_labels(labels: Any) -> GoValue:
    items = ", ".join(f'"{k}":"{v}"' for k, v in sorted(_dict(labels).items()))
    return GoValue(f"map[string]string{{{items}}}")


def go_selector(selector: Any) -> GoValue:
    sel = _dict(selector)
    exprs = sel.get("matchExpressions")
    expr_text = "[]v1.LabelSelectorRequirement(nil)" if not exprs else \
        "[]v1.LabelSelectorRequirement{" + ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{e.get("key")}", Operator:"{e.get("operator")}",'
            f' Values:[]string{{{", ".join(chr(34) + v + chr(34) for v in e.get("values") or [])}'
            "}}" for e in exprs) + "}"
    match = sel.get("matchLabels")
    labels = "map[string]string(nil)" if match is None else str(go_labels(match))
    return GoValue(f"&v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expr_text}}}")


def selector_matches(selector: Any, labels: Any) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); a nil selector matches
    nothing, an empty one everything."""
    if not isinstance(selector, dict):
        return False
    labels = labels if isinstance(labels, dict) else {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _moved(errs: list[FieldError], prefix: str) -> list[FieldError]:
    return [dataclasses.replace(e, field=prefix + e.field) for e in errs]


def _nonnegative(spec: Obj, key: str, path: str) -> list[FieldError]:
    value = spec.get(key)
    if isinstance(value, int) and value < 0:
        return [errors.invalid(f"{path}.{key}", value, GE0)]
    return []


def _selector(spec: Obj, path: str, template_labels: Any, what: str) -> list[FieldError]:
    selector = spec.get("selector")
    if selector is None:
        return [errors.required(f"{path}.selector", "")]
    sel = _dict(selector)
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        return [errors.invalid(f"{path}.selector", go_selector(selector),
                               f"empty selector is invalid for {what}")]
    if not selector_matches(sel, template_labels):
        return [errors.invalid(f"{path}.template.metadata.labels", go_labels(template_labels),
                               "`selector` does not match template `labels`")]
    return []


def validate_template(template: Any, path: str, policies: list[str]) -> list[FieldError]:
    """ValidatePodTemplateSpec plus the restart policies the controller allows."""
    if not isinstance(template, dict):
        return [errors.required(path, "")]
    m = _dict(template.get("metadata"))
    spec = _dict(template.get("spec"))
    pod = {"metadata": {**m, "name": "template"}, "spec": spec}
    errs = [e for e in validation.validate_pod(pod) if not e.field.startswith("metadata.name")]
    errs += validation.unsupported_pod_fields(pod)
    errs = [e for e in errs if e.field != "spec.restartPolicy"]
    moved = _moved(errs, path + ".")
    policy = spec.get("restartPolicy")
    if policy not in policies:
        moved.append(errors.not_supported(f"{path}.spec.restartPolicy", policy, policies))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and path.endswith("spec.template") and "Never" not in policies:
        moved.append(errors.invalid(f"{path}.spec.activeDeadlineSeconds", deadline,
                                    "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return moved


def _int_or_percent(value: Any, path: str) -> tuple[int | None, list[FieldError]]:
    """(the percent or the number, errors) of an IntOrString rolling update parameter."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            return value, [errors.invalid(path, value, GE0)]
        return value, []
    if isinstance(value, str) and _PERCENT.match(value):
        pct = int(value[:-1])
        if pct > 100:
            return pct, [errors.invalid(path, value, "must not be greater than 100%")]
        return pct, []
    return None, [errors.invalid(path, value, "a valid percent string must be a numeric "
                                 "string followed by an ending '%' (e.g. '1%',  or '93%', "
                                 "regex used for validation is '[0-9]+%')")]


def _rolling(rolling: Obj, path: str) -> list[FieldError]:
    unavailable, errs = _int_or_percent(rolling.get("maxUnavailable", "25%"),
                                        f"{path}.maxUnavailable")
    surge, surge_errs = _int_or_percent(rolling.get("maxSurge", "25%"), f"{path}.maxSurge")
    errs += surge_errs
    if unavailable == 0 and surge == 0 and not errs:
        errs.append(errors.invalid(f"{path}.maxUnavailable", rolling.get("maxUnavailable"),
                                   "may not be 0 when `maxSurge` is 0"))
    return errs


def deployment_spec_errors(spec: Obj) -> list[FieldError]:
    template = _dict(spec.get("template"))
    errs = _nonnegative(spec, "replicas", "spec")
    errs += _selector(spec, "spec", _dict(template.get("metadata")).get("labels"),
                      "deployment")
    errs += validate_template(spec.get("template"), "spec.template", ["Always"])
    strategy = _dict(spec.get("strategy"))
    kind = strategy.get("type")
    if kind not in ("Recreate", "RollingUpdate"):
        errs.append(errors.not_supported("spec.strategy.type", kind,
                                         ["Recreate", "RollingUpdate"]))
    elif kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.append(errors.forbidden("spec.strategy.rollingUpdate",
                                     "may not be specified when strategy `type` is 'Recreate'"))
    elif kind == "RollingUpdate":
        errs += _rolling(_dict(strategy.get("rollingUpdate")), "spec.strategy.rollingUpdate")
    for key in ("revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds"):
        errs += _nonnegative(spec, key, "spec")
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
    if isinstance(deadline, int) and isinstance(min_ready, int) and deadline <= min_ready:
        errs.append(errors.invalid("spec.progressDeadlineSeconds", deadline,
                                   "must be greater than minReadySeconds"))
    return errs


def replicaset_spec_errors(spec: Obj) -> list[FieldError]:
    template = _dict(spec.get("template"))
    errs = _nonnegative(spec, "replicas", "spec") + _nonnegative(spec, "minReadySeconds", "spec")
    errs += _selector(spec, "spec", _dict(template.get("metadata")).get("labels"), "replicaset")
    return errs + validate_template(spec.get("template"), "spec.template", ["Always"])


def _with_claims(spec: Obj) -> Any:
    """The template with a volume for each claim template, as the controller adds them."""
    template = spec.get("template")
    claims = [_dict(_dict(c).get("metadata")).get("name") for c in
              spec.get("volumeClaimTemplates") or []]
    if not isinstance(template, dict) or not claims:
        return template
    pod_spec = _dict(template.get("spec"))
    volumes = [v for v in pod_spec.get("volumes") or [] if _dict(v).get("name") not in claims]
    volumes += [{"name": n, "persistentVolumeClaim": {"claimName": f"{n}-0"}}
                for n in claims if n]
    return {**template, "spec": {**pod_spec, "volumes": volumes}}


def statefulset_spec_errors(spec: Obj) -> list[FieldError]:
    template = _dict(spec.get("template"))
    errs = _nonnegative(spec, "replicas", "spec") + _nonnegative(spec, "minReadySeconds", "spec")
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        errs.append(errors.not_supported("spec.podManagementPolicy", policy,
                                         ["OrderedReady", "Parallel"]))
    strategy = _dict(spec.get("updateStrategy"))
    if strategy.get("type") not in ("OnDelete", "RollingUpdate"):
        errs.append(errors.not_supported("spec.updateStrategy.type", strategy.get("type"),
                                         ["OnDelete", "RollingUpdate"]))
    elif strategy.get("type") == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(errors.invalid("spec.updateStrategy.rollingUpdate",
                                   GoValue("&apps.RollingUpdateStatefulSetStrategy{...}"),
                                   "only allowed for updateStrategy 'RollingUpdate'"))
    errs += _nonnegative(_dict(strategy.get("rollingUpdate")), "partition",
                         "spec.updateStrategy.rollingUpdate")
    errs += _selector(spec, "spec", _dict(template.get("metadata")).get("labels"),
                      "statefulset")
    errs += validate_template(_with_claims(spec), "spec.template", ["Always"])
    claims = spec.get("volumeClaimTemplates") or []
    if claims and registry.get("persistentvolumeclaims") is None:
        errs.append(errors.forbidden("spec.volumeClaimTemplates", "podhost does not support "
                                     "persistent volumes yet; use emptyDir volumes in the "
                                     "template"))
    for i, claim in enumerate(claims):
        name = _dict(_dict(claim).get("metadata")).get("name") or ""
        path = f"spec.volumeClaimTemplates[{i}].metadata.name"
        errs += [errors.required(path, "")] if not name else \
            [errors.invalid(path, name, m) for m in meta.dns1123_subdomain_errors(name)]
    return errs


def daemonset_spec_errors(spec: Obj) -> list[FieldError]:
    template = _dict(spec.get("template"))
    errs = _selector(spec, "spec", _dict(template.get("metadata")).get("labels"), "daemonset")
    errs += validate_template(spec.get("template"), "spec.template", ["Always"])
    strategy = _dict(spec.get("updateStrategy"))
    if strategy.get("type") not in ("OnDelete", "RollingUpdate"):
        errs.append(errors.not_supported("spec.updateStrategy.type", strategy.get("type"),
                                         ["OnDelete", "RollingUpdate"]))
    elif strategy.get("type") == "RollingUpdate":
        rolling = _dict(strategy.get("rollingUpdate"))
        unavailable, e1 = _int_or_percent(rolling.get("maxUnavailable", 1),
                                          "spec.updateStrategy.rollingUpdate.maxUnavailable")
        surge, e2 = _int_or_percent(rolling.get("maxSurge", 0),
                                    "spec.updateStrategy.rollingUpdate.maxSurge")
        errs += e1 + e2
        if unavailable == 0 and surge == 0 and not e1 + e2:
            errs.append(errors.invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", 0,
                                       "may not be 0 when `maxSurge` is 0"))
    return errs + _nonnegative(spec, "minReadySeconds", "spec") + \
        _nonnegative(spec, "revisionHistoryLimit", "spec")
