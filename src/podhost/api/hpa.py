"""autoscaling/v2 HorizontalPodAutoscalers, pure: defaults (pkg/apis/autoscaling/v2
defaults.go), validation (pkg/apis/autoscaling/validation) and kubectl's columns
(printHorizontalPodAutoscaler)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from podhost.api import columns as cols
from podhost.api import errors, quantity
from podhost.api.errors import FieldError
from podhost.api.types import Obj

DEFAULT_CPU_UTILIZATION = 80
SCALE_UP_DEFAULT: Obj = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN_DEFAULT: Obj = {"selectPolicy": "Max", "policies": [
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
TARGET_TYPES = ("Utilization", "Value", "AverageValue")

COLUMNS = (cols.NAME,
           ("Reference", "string", "", 0, "scaleTargetRef points to the target resource to "
            "scale, and is used to the pods for which metrics should be collected, as well as "
            "to actually change the replica count."),
           ("Targets", "string", "", 0, "metrics contains the specifications for which to use "
            "to calculate the desired replica count (the maximum replica count across all "
            "metrics will be used)."),
           ("MinPods", "string", "", 0, "minReplicas is the lower limit for the number of "
            "replicas to which the autoscaler can scale down. It defaults to 1 pod."),
           ("MaxPods", "string", "", 0, "maxReplicas is the upper limit for the number of "
            "replicas to which the autoscaler can scale up. It cannot be less that "
            "minReplicas."),
           ("Replicas", "string", "", 0, "currentReplicas is current number of replicas of "
            "pods managed by this autoscaler, as last seen by the autoscaler."),
           cols.AGE)


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _rules(given: Any, default: Obj) -> Obj:
    """GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: unset fields from the defaults."""
    rules = copy.deepcopy(_dict(given))
    for key, value in default.items():
        if rules.get(key) is None:
            rules[key] = copy.deepcopy(value)
    return rules


def default(hpa: Obj) -> None:
    """SetDefaults_HorizontalPodAutoscaler: minReplicas 1, 80% CPU, and a behavior given in
    part completed."""
    spec = hpa.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    if isinstance(spec.get("behavior"), dict):
        spec["behavior"]["scaleUp"] = _rules(spec["behavior"].get("scaleUp"), SCALE_UP_DEFAULT)
        spec["behavior"]["scaleDown"] = _rules(spec["behavior"].get("scaleDown"),
                                               SCALE_DOWN_DEFAULT)


# -- validation -------------------------------------------------------------------------------
def _reference(ref: Any, path: str) -> list[FieldError]:
    ref = _dict(ref)
    errs = []
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            errs.append(errors.required(f"{path}.{key}", ""))
        elif value in (".", "..") or "/" in value or "%" in value:
            errs.append(errors.invalid(f"{path}.{key}", value,
                                       "may not contain '/'" if "/" in value else
                                       f"may not be '{value}'" if value in (".", "..") else
                                       "may not contain '%'"))
    return errs


def _positive_quantity(value: Any, path: str) -> list[FieldError]:
    try:
        if quantity.parse(str(value)) <= 0:
            return [errors.invalid(path, value, "must be positive")]
    except ValueError:
        return [errors.invalid(path, value, "quantities must match the regular expression "
                               "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    return []


def _resource_source(src: Any, path: str) -> list[FieldError]:
    src = _dict(src)
    errs = [] if src.get("name") else [errors.required(f"{path}.name",
                                                       "must specify a resource name")]
    target = _dict(src.get("target"))
    tpath = f"{path}.target"
    kind = target.get("type")
    if not kind:
        return [*errs, errors.required(f"{tpath}.type", "must specify a metric target type")]
    if kind not in TARGET_TYPES:
        return [*errs, errors.invalid(f"{tpath}.type", kind,
                                      "must be either Utilization, Value, or AverageValue")]
    utilization, average = target.get("averageUtilization"), target.get("averageValue")
    if utilization is None and average is None:
        errs.append(errors.required(f"{tpath}.averageUtilization",
                                    "must set either a target raw value or a target "
                                    "utilization"))
    elif utilization is not None and average is not None:
        errs.append(errors.forbidden(f"{tpath}.averageValue", "may not set both a target raw "
                                     "value and a target utilization"))
    if isinstance(utilization, int) and utilization < 1:
        errs.append(errors.invalid(f"{tpath}.averageUtilization", utilization,
                                   "must be greater than 0"))
    if average is not None:
        errs += _positive_quantity(average, f"{tpath}.averageValue")
    return errs


def _metric(spec: Any, path: str) -> list[FieldError]:
    spec = _dict(spec)
    kind = spec.get("type")
    if not kind:
        return [errors.required(f"{path}.type", "must specify a metric source type")]
    if kind not in METRIC_TYPES:
        return [errors.not_supported(f"{path}.type", kind, list(METRIC_TYPES))]
    key = kind[0].lower() + kind[1:]
    if spec.get(key) is None:
        return [errors.required(f"{path}.{key}", "must populate information for the given "
                                "metric source")]
    if kind in ("Resource", "ContainerResource"):
        errs = _resource_source(spec[key], f"{path}.{key}")
        if kind == "ContainerResource" and not _dict(spec[key]).get("container"):
            errs.append(errors.required(f"{path}.{key}.container",
                                        "must specify a container"))
        return errs
    return []


def _scaling_rules(rules: Any, path: str) -> list[FieldError]:
    rules = _dict(rules)
    errs = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and window < 0:
        errs.append(errors.invalid(f"{path}.stabilizationWindowSeconds", window,
                                   "must be greater than or equal to zero"))
    elif isinstance(window, int) and window > 3600:
        errs.append(errors.invalid(f"{path}.stabilizationWindowSeconds", window,
                                   "must be less than or equal to 3600"))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        errs.append(errors.not_supported(f"{path}.selectPolicy", select,
                                         ["Disabled", "Max", "Min"]))
    policies = rules.get("policies") or []
    if not policies and select != "Disabled":
        errs.append(errors.required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        p, policy = f"{path}.policies[{i}]", _dict(policy)
        if policy.get("type") not in ("Pods", "Percent"):
            errs.append(errors.not_supported(f"{p}.type", policy.get("type"),
                                             ["Percent", "Pods"]))
        if not isinstance(policy.get("value"), int) or policy["value"] <= 0:
            errs.append(errors.invalid(f"{p}.value", policy.get("value"),
                                       "must be greater than zero"))
        period = policy.get("periodSeconds")
        if not isinstance(period, int) or period <= 0:
            errs.append(errors.invalid(f"{p}.periodSeconds", period,
                                       "must be greater than zero"))
        elif period > 1800:
            errs.append(errors.invalid(f"{p}.periodSeconds", period,
                                       "must be less than or equal to 1800"))
    return errs


def validate(hpa: Obj) -> list[FieldError]:
    """ValidateHorizontalPodAutoscaler (the spec)."""
    spec = _dict(hpa.get("spec"))
    errs = _reference(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        errs.append(errors.invalid("spec.minReplicas", low, "must be greater than or equal "
                                   "to 1"))
    if not isinstance(high, int) or high < 1:
        errs.append(errors.invalid("spec.maxReplicas", high, "must be greater than 0"))
    elif isinstance(low, int) and high < low:
        errs.append(errors.invalid("spec.maxReplicas", high, "must be greater than or equal "
                                   "to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        errs += _metric(metric, f"spec.metrics[{i}]")
    behavior = _dict(spec.get("behavior"))
    for key in ("scaleUp", "scaleDown"):
        if behavior.get(key) is not None:
            errs += _scaling_rules(behavior[key], f"spec.behavior.{key}")
    return errs


# -- the table --------------------------------------------------------------------------------
def _target(spec: Obj, status: Obj | None) -> str:
    """One metric as formatHPAMetrics writes it: `cpu: 12%/50%`, `memory: 10Mi/20Mi`."""
    kind = spec.get("type")
    key = kind[0].lower() + kind[1:] if isinstance(kind, str) and kind else ""
    src, cur = _dict(spec.get(key)), _dict(_dict(status).get(key))
    target = _dict(src.get("target"))
    if kind in ("Resource", "ContainerResource"):
        name = src.get("name", "")
        if kind == "ContainerResource":
            name = f"{name} of container \"{src.get('container', '')}\""
        if target.get("averageValue") is not None:
            current = _dict(cur.get("current")).get("averageValue") or "<unknown>"
            return f"{name}: {current}/{target['averageValue']}"
        utilization = _dict(cur.get("current")).get("averageUtilization")
        current = f"{utilization}%" if utilization is not None else "<unknown>"
        wanted = f"{target['averageUtilization']}%" \
            if target.get("averageUtilization") is not None else "<auto>"
        return f"{name}: {current}/{wanted}"
    current = _dict(cur.get("current"))
    value = current.get("averageValue") or current.get("value") or "<unknown>"
    wanted = target.get("averageValue") or target.get("value") or "<unknown>"
    return f"{value}/{wanted}"


def targets(hpa: Obj) -> str:
    specs = _dict(hpa.get("spec")).get("metrics") or []
    if not specs:
        return "<none>"
    statuses = _dict(hpa.get("status")).get("currentMetrics") or []
    shown = [_target(_dict(s), statuses[i] if i < len(statuses) else None)
             for i, s in enumerate(specs[:3])]
    more = f" + {len(specs) - 3} more..." if len(specs) > 3 else ""
    return ", ".join(shown) + more


def cells(hpa: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(hpa.get("spec")), _dict(hpa.get("status"))
    ref = _dict(spec.get("scaleTargetRef"))
    low = spec.get("minReplicas")
    return [hpa["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}",
            targets(hpa), "<unset>" if low is None else low, spec.get("maxReplicas", 0),
            status.get("currentReplicas", 0), cols.age(hpa, now)]
