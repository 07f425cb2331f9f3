"""LimitRanges, pure (plugin/pkg/admission/limitranger, core/v1 defaults and validation): the
defaults a Container item implies (max → default, default → defaultRequest, min →
defaultRequest), the defaults injected into a new Pod's containers (with the
`kubernetes.io/limit-ranger` annotation), and min, max and maxLimitRequestRatio per Container,
per Pod and per PersistentVolumeClaim, with upstream's messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from podhost.api import errors, quantity
from podhost.api.errors import FieldError
from podhost.api.types import Obj

TYPES = ["Container", "PersistentVolumeClaim", "Pod"]
ANNOTATION = "kubernetes.io/limit-ranger"
COLUMNS = (("Name", "string", "name", 0, "Name must be unique within a namespace."),
           ("Created At", "date", "", 0, "Date when the limit range was created."))


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _dec(value: Any) -> Decimal:
    return quantity.parse_decimal(str(value))


def _items(limit_range: Obj) -> list[Obj]:
    return [i for i in _dict(limit_range.get("spec")).get("limits") or [] if isinstance(i, dict)]


def default_item(item: Obj) -> None:
    """SetDefaults_LimitRangeItem for Container items."""
    if item.get("type") != "Container":
        return
    default, request = item.setdefault("default", {}), item.setdefault("defaultRequest", {})
    for key, value in _dict(item.get("max")).items():
        default.setdefault(key, value)
    for key, value in default.items():
        request.setdefault(key, value)
    for key, value in _dict(item.get("min")).items():
        request.setdefault(key, value)


def default(limit_range: Obj) -> None:
    for item in _items(limit_range):
        default_item(item)


def validate(limit_range: Obj) -> list[FieldError]:
    """ValidateLimitRange: types, and min <= defaultRequest <= default <= max."""
    errs: list[FieldError] = []
    for i, item in enumerate(_items(limit_range)):
        path = f"spec.limits[{i}]"
        kind = item.get("type")
        if kind not in TYPES:
            errs.append(errors.not_supported(f"{path}.type", kind, TYPES))
            continue
        if kind == "Pod":
            for key in ("default", "defaultRequest"):
                if item.get(key):
                    errs.append(errors.forbidden(f"{path}.{key}", "may not be specified when "
                                                 "`type` is 'Pod'"))
        values = {k: {r: _dec(v) for r, v in _dict(item.get(k)).items()}
                  for k in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio")}
        text = {k: {r: quantity.canonical(str(v)) for r, v in _dict(item.get(k)).items()}
                for k in values}
        # (smaller, larger, the field named, the value shown, message) as upstream reports
        pairs = (("min", "max", "min", "min", "min value {a} is greater than max value {b}"),
                 ("min", "defaultRequest", "defaultRequest", "defaultRequest",
                  "min value {a} is greater than default request value {b}"),
                 ("defaultRequest", "max", "defaultRequest", "defaultRequest",
                  "default request value {a} is greater than max value {b}"),
                 ("defaultRequest", "default", "defaultRequest", "defaultRequest",
                  "default request value {a} is greater than default limit value {b}"),
                 ("min", "default", "default", "min",
                  "min value {a} is greater than default value {b}"),
                 ("default", "max", "default", "max",
                  "default value {a} is greater than max value {b}"))
        for low, high, at, shown, message in pairs:
            for r in sorted(values[low].keys() & values[high].keys()):
                if values[low][r] > values[high][r]:
                    errs.append(errors.invalid(f"{path}.{at}[{r}]", text[shown][r],
                                               message.format(a=text[low][r],
                                                              b=text[high][r])))
        for r, ratio in sorted(values["maxLimitRequestRatio"].items()):
            if ratio < 1:
                errs.append(errors.invalid(f"{path}.maxLimitRequestRatio[{r}]",
                                           text["maxLimitRequestRatio"][r],
                                           f"ratio {text['maxLimitRequestRatio'][r]} is less "
                                           "than 1"))
    return errs


def cells(limit_range: Obj, now: datetime) -> list[Any]:
    return [limit_range["metadata"]["name"],
            limit_range["metadata"].get("creationTimestamp", "")]


# -- admission ---------------------------------------------------------------------------------
def _merge(container: Obj, item: Obj, prefix: str) -> list[str]:
    """mergeContainerResources: the item's defaults where the container says nothing."""
    res = container.setdefault("resources", {})
    limits, requests = res.setdefault("limits", {}), res.setdefault("requests", {})
    set_limits = [k for k in _dict(item.get("default")) if k not in limits]
    set_requests = [k for k in _dict(item.get("defaultRequest")) if k not in requests]
    for k in set_limits:
        limits[k] = item["default"][k]
    for k in set_requests:
        requests[k] = item["defaultRequest"][k]
    notes = []
    if set_requests:
        notes.append(f"{', '.join(sorted(set_requests))} request for {prefix} "
                     f"{container.get('name', '')}")
    if set_limits:
        notes.append(f"{', '.join(sorted(set_limits))} limit for {prefix} "
                     f"{container.get('name', '')}")
    for key in ("limits", "requests"):
        if not res[key]:
            del res[key]
    return notes


def inject_defaults(pod: Obj, ranges: list[Obj]) -> None:
    """The LimitRanger's mutation of a new Pod."""
    spec = _dict(pod.get("spec"))
    notes: list[str] = []
    for lr in ranges:
        for item in _items(lr):
            if item.get("type") != "Container":
                continue
            for c in spec.get("containers") or []:
                notes += _merge(c, item, "container")
            for c in spec.get("initContainers") or []:
                notes += _merge(c, item, "init container")
    if notes:
        pod.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATION] = \
            "LimitRanger plugin set: " + "; ".join(notes)


def _constraints(kind: str, item: Obj, requests: Obj, limits: Obj) -> list[str]:
    errs = []
    for r, enforced in sorted(_dict(item.get("min")).items()):
        if r not in requests:
            errs.append(f"minimum {r} usage per {kind} is {enforced}.  No request is specified")
        elif _dec(requests[r]) < _dec(enforced):
            errs.append(f"minimum {r} usage per {kind} is {enforced}, but request is "
                        f"{requests[r]}")
        elif r in limits and _dec(limits[r]) < _dec(enforced):
            errs.append(f"minimum {r} usage per {kind} is {enforced}, but limit is {limits[r]}")
    for r, enforced in sorted(_dict(item.get("max")).items()):
        if kind == "PersistentVolumeClaim":
            if r in requests and _dec(requests[r]) > _dec(enforced):
                errs.append(f"maximum {r} usage per {kind} is {enforced}, but request is "
                            f"{requests[r]}")
        elif r not in limits:
            errs.append(f"maximum {r} usage per {kind} is {enforced}.  No limit is specified")
        elif _dec(limits[r]) > _dec(enforced):
            errs.append(f"maximum {r} usage per {kind} is {enforced}, but limit is {limits[r]}")
        elif r in requests and _dec(requests[r]) > _dec(enforced):
            errs.append(f"maximum {r} usage per {kind} is {enforced}, but request is "
                        f"{requests[r]}")
    for r, enforced in sorted(_dict(item.get("maxLimitRequestRatio")).items()):
        prefix = f"{r} max limit to request ratio per {kind} is {enforced}"
        if not requests.get(r) or _dec(requests[r]) == 0:
            errs.append(f"{prefix}, but no request is specified or request is 0")
        elif not limits.get(r) or _dec(limits[r]) == 0:
            errs.append(f"{prefix}, but no limit is specified or limit is 0")
        elif _dec(limits[r]) / _dec(requests[r]) > _dec(enforced):
            errs.append(f"{prefix}, but provided ratio is "
                        f"{float(_dec(limits[r]) / _dec(requests[r])):f}")
    return errs


def _sum(containers: list[Obj], key: str) -> Obj:
    found: dict[str, Decimal] = {}
    for c in containers:
        for r, v in _dict(_dict(c.get("resources")).get(key)).items():
            found[r] = found.get(r, Decimal(0)) + _dec(v)
    return {r: quantity.canonical(str(v)) for r, v in found.items()}


def _container_limits(spec: Obj, item: Obj) -> list[str]:
    errs: list[str] = []
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        res = _dict(c.get("resources"))
        errs += _constraints("Container", item, _dict(res.get("requests")),
                             _dict(res.get("limits")))
    return errs


def _pod_limits(spec: Obj, item: Obj) -> list[str]:
    containers = spec.get("containers") or []
    return _constraints("Pod", item, _sum(containers, "requests"), _sum(containers, "limits"))


def _claim_limits(spec: Obj, item: Obj) -> list[str]:
    res = _dict(spec.get("resources"))
    return _constraints("PersistentVolumeClaim", item, _dict(res.get("requests")),
                        _dict(res.get("limits")))


# what each limit type constrains, by the resource of the object admitted
CHECKS: dict[tuple[str, str], Callable[[Obj, Obj], list[str]]] = {
    ("pods", "Container"): _container_limits, ("pods", "Pod"): _pod_limits,
    ("persistentvolumeclaims", "PersistentVolumeClaim"): _claim_limits}


def violations(resource: str, obj: Obj, ranges: list[Obj]) -> list[str]:
    """What the LimitRanger's validation refuses of a new Pod or claim."""
    spec = _dict(obj.get("spec"))
    errs: list[str] = []
    for lr in ranges:
        for item in _items(lr):
            check = CHECKS.get((resource, str(item.get("type"))))
            if check is not None:
                errs += check(spec, item)
    return errs
