"""ResourceQuotas, pure (pkg/quota/v1/evaluator/core and plugin/pkg/admission/resourcequota):
what an object uses of each quota resource (Pods: pods, cpu and memory requests and limits;
`count/<resource>` for any kind; services, secrets, configmaps, claims and their storage),
quota scopes (Terminating, NotTerminating, BestEffort, NotBestEffort), quantity sums, the
admission verdict with upstream's messages, and validation and columns of the kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from podhost.api import columns as cols
from podhost.api import errors, quantity
from podhost.api import registry as table
from podhost.api.errors import FieldError
from podhost.api.types import Obj

SCOPES = ["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating",
          "PriorityClass", "Terminating"]
SUPPORTED_SCOPES = ("BestEffort", "NotBestEffort", "NotTerminating", "Terminating")
POD_RESOURCES = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu",
                 "limits.memory", "pods", "count/pods", "requests.ephemeral-storage",
                 "limits.ephemeral-storage", "ephemeral-storage")
OBJECT_COUNTS = {"services": "services", "secrets": "secrets", "configmaps": "configmaps",
                 "persistentvolumeclaims": "persistentvolumeclaims",
                 "replicationcontrollers": "replicationcontrollers",
                 "resourcequotas": "resourcequotas"}
BINARY = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
COLUMNS = (cols.NAME, cols.AGE,
           ("Request", "string", "", 0, "Request represents a minimum amount of cpu/memory "
            "that a container may consume."),
           ("Limit", "string", "", 0, "Limits control the maximum amount of cpu/memory that a "
            "container may use independent of contention on the node."))


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def dec(value: Any) -> Decimal:
    return quantity.parse_decimal(str(value))


def total(values: Iterable[str]) -> str:
    """The sum of quantities as Quantity.Add prints it (binary stays binary)."""
    values = list(values)
    amount = sum((dec(v) for v in values), Decimal(0))
    if any(str(v).endswith(BINARY) for v in values) and amount == amount.to_integral_value():
        size = int(amount)
        return quantity.canonical(f"{size // 1024}Ki") if size % 1024 == 0 else str(size)
    if amount == amount.to_integral_value():
        return str(int(amount))
    return quantity.canonical(f"{int(amount * 1000)}m")


# -- what an object uses -----------------------------------------------------------------------
def _containers(pod: Obj) -> list[Obj]:
    spec = _dict(pod.get("spec"))
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _pod_sum(pod: Obj, kind: str, resource: str) -> list[str]:
    """The containers' requests or limits of `resource` (init containers: the larger of their
    largest and the sum, as PodRequests counts them)."""
    values = [str(_dict(_dict(c.get("resources")).get(kind)).get(resource))
              for c in _containers(pod)
              if _dict(_dict(c.get("resources")).get(kind)).get(resource) is not None]
    inits = [dec(_dict(_dict(c.get("resources")).get(kind)).get(resource))
             for c in _dict(pod.get("spec")).get("initContainers") or []
             if isinstance(c, dict) and
             _dict(_dict(c.get("resources")).get(kind)).get(resource) is not None]
    if inits and max(inits) > sum((dec(v) for v in values), Decimal(0)):
        return [str(max(inits))]
    return values


def pod_usage(pod: Obj) -> dict[str, str]:
    """PodUsageFunc: what a Pod that is not finished counts against a quota."""
    usage = {"pods": "1", "count/pods": "1"}
    for compute in ("cpu", "memory", "ephemeral-storage"):
        requests = _pod_sum(pod, "requests", compute)
        limits = _pod_sum(pod, "limits", compute)
        if requests:
            usage[f"requests.{compute}"] = usage[compute] = total(requests)
        if limits:
            usage[f"limits.{compute}"] = total(limits)
    return usage


def service_usage(svc: Obj) -> dict[str, str]:
    """The serviceEvaluator's: NodePorts and load balancers."""
    kind = _dict(svc.get("spec")).get("type")
    if kind == "NodePort":
        return {"services.nodeports": str(len(_dict(svc.get("spec")).get("ports") or []))}
    return {"services.loadbalancers": "1"} if kind == "LoadBalancer" else {}


def claim_usage(pvc: Obj) -> dict[str, str]:
    """The pvcEvaluator's: the storage requested."""
    storage = _dict(_dict(_dict(pvc.get("spec")).get("resources")).get("requests")).get(
        "storage")
    return {} if storage is None else {"requests.storage": str(storage)}


def counts(pod: Obj) -> bool:
    """A Pod counts against quotas until it is finished."""
    return _dict(pod.get("status")).get("phase") not in ("Succeeded", "Failed")


def _always(obj: Obj) -> bool:
    return True


@dataclass(frozen=True)
class Evaluator:
    """What a kind counts against a quota (pkg/quota/v1/evaluator/core): its usage beyond
    `count/…`, whether it counts now, whether quota scopes apply to it, and the constraints
    its objects must meet."""
    usage: Callable[[Obj], dict[str, str]] = lambda obj: {}
    counting: Callable[[Obj], bool] = _always
    scoped: bool = False
    constraints: Callable[[Obj, Obj, Obj], str] | None = None


def evaluator(resource: str) -> Evaluator:
    return EVALUATORS.get(resource, GENERIC)


def object_usage(resource: str, obj: Obj) -> dict[str, str]:
    """What one object counts: `count/<resource>[.<group>]`, the legacy names and what its
    evaluator adds."""
    served = table.get(resource)
    group = served.group if served is not None else ""
    usage = {f"count/{resource}" + (f".{group}" if group else ""): "1"}
    legacy = OBJECT_COUNTS.get(resource)
    if legacy:
        usage[legacy] = "1"
    return {**usage, **evaluator(resource).usage(obj)}


def best_effort(pod: Obj) -> bool:
    return not any(_dict(c.get("resources")).get(k) for c in _containers(pod)
                   for k in ("requests", "limits")
                   if _dict(_dict(c.get("resources")).get(k)).keys() & {"cpu", "memory"})


def in_scope(quota: Obj, resource: str, obj: Obj) -> bool:
    """The object matches every scope of the quota (scopes apply to Pods only)."""
    scopes = _dict(quota.get("spec")).get("scopes") or []
    if not scopes:
        return True
    if not evaluator(resource).scoped:
        return False
    terminating = _dict(obj.get("spec")).get("activeDeadlineSeconds") is not None
    checks = {"Terminating": terminating, "NotTerminating": not terminating,
              "BestEffort": best_effort(obj), "NotBestEffort": not best_effort(obj)}
    return all(checks.get(s, False) for s in scopes)


def scope_allows(quota: Obj, name: str) -> bool:
    """BestEffort quotas track only pods (no requests or limits to count)."""
    scopes = _dict(quota.get("spec")).get("scopes") or []
    return "BestEffort" not in scopes or name in ("pods", "count/pods")


def used(quota: Obj, objects: dict[str, list[Obj]]) -> dict[str, str]:
    """status.used of `quota` from the namespace's objects, by the resource they are of."""
    hard = _dict(_dict(quota.get("spec")).get("hard"))
    sums: dict[str, list[str]] = {name: [] for name in hard}
    for resource, items in objects.items():
        for obj in items:
            if not evaluator(resource).counting(obj) or not in_scope(quota, resource, obj):
                continue
            for name, value in object_usage(resource, obj).items():
                if name in sums and scope_allows(quota, name):
                    sums[name].append(value)
    return {name: total(values) if values else "0" for name, values in sums.items()}


def resources_of(quota: Obj) -> set[str]:
    """The kinds whose objects the quota counts (by plural name)."""
    found: set[str] = set()
    for name in _dict(_dict(quota.get("spec")).get("hard")):
        if name in POD_RESOURCES:
            found.add("pods")
        elif name.startswith("count/"):
            found.add(name[len("count/"):].split(".")[0])
        elif name in OBJECT_COUNTS:
            found.add(OBJECT_COUNTS[name])
        elif name.startswith("services."):
            found.add("services")
        elif name == "requests.storage" or name.endswith(".storageclass.storage.k8s.io/"
                                                         "requests.storage"):
            found.add("persistentvolumeclaims")
    return found


# -- admission ----------------------------------------------------------------------------------
def _pretty(values: dict[str, str]) -> str:
    return ",".join(f"{k}={values[k]}" for k in sorted(values))


VALIDATED = {"cpu": ("requests", "cpu"), "memory": ("requests", "memory"),
             "requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"),
             "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}


def missing_resources(hard: Obj, quota: Obj, pod: Obj) -> str:
    """The podEvaluator's Constraints: every container states what the quota tracks of cpu
    and memory (`limits.cpu for: a,b; requests.memory for: a`)."""
    segments = []
    for name in sorted(set(hard) & set(VALIDATED)):
        if not scope_allows(quota, name):
            continue
        kind, resource = VALIDATED[name]
        lacking = sorted(c.get("name", "") for c in _containers(pod)
                         if _dict(_dict(c.get("resources")).get(kind)).get(resource) is None)
        if lacking:
            segments.append(f"{name} for: {','.join(lacking)}")
    return "; ".join(segments)


def check(quota: Obj, resource: str, obj: Obj, current: dict[str, str]) -> str | None:
    """Why creating `obj` would go over `quota` (whose usage is `current`), or None."""
    if not in_scope(quota, resource, obj):
        return None
    hard = _dict(_dict(quota.get("spec")).get("hard"))
    delta = {k: v for k, v in object_usage(resource, obj).items()
             if k in hard and scope_allows(quota, k)}
    name = quota["metadata"]["name"]
    constraints = evaluator(resource).constraints
    if constraints is not None and (missing := constraints(hard, quota, obj)):
        return f"failed quota: {name}: must specify {missing}"
    requested: dict[str, str] = {}
    used_now: dict[str, str] = {}
    limited: dict[str, str] = {}
    for key, value in delta.items():
        if dec(current.get(key, "0")) + dec(value) > dec(hard[key]):
            requested[key], used_now[key] = value, current.get(key, "0")
            limited[key] = str(hard[key])
    if not requested:
        return None
    return (f"exceeded quota: {name}, requested: {_pretty(requested)}, used: "
            f"{_pretty(used_now)}, limited: {_pretty(limited)}")


def forbidden(resource: str, obj: Obj, reason: str) -> errors.ForbiddenError:
    """admission.NewForbidden: `pods "x" is forbidden: ...`."""
    name = _dict(obj.get("metadata")).get("name") or \
        _dict(obj.get("metadata")).get("generateName") or "Unknown"
    return errors.ForbiddenError(f'{table.qualified(resource)} "{name}" is forbidden: {reason}',
                                 kind=resource, name=name)


# -- the kind -----------------------------------------------------------------------------------
def validate(quota: Obj) -> list[FieldError]:
    """ValidateResourceQuota: quantities, scopes."""
    spec = _dict(quota.get("spec"))
    errs: list[FieldError] = []
    for name, value in _dict(spec.get("hard")).items():
        try:
            if dec(value) < 0:
                errs.append(errors.invalid(f"spec.hard[{name}]", value,
                                           "must be greater than or equal to 0"))
        except quantity.QuantityError:
            errs.append(errors.invalid(f"spec.hard[{name}]", value, "quantities must match "
                                       "the regular expression "
                                       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
    scopes = spec.get("scopes") or []
    for i, scope in enumerate(scopes):
        if scope not in SCOPES:
            errs.append(errors.not_supported(f"spec.scopes[{i}]", scope, SCOPES))
        elif scope not in SUPPORTED_SCOPES:
            errs.append(errors.forbidden(f"spec.scopes[{i}]", "podhost does not evaluate "
                                         f"the {scope} scope"))
    if {"Terminating", "NotTerminating"} <= set(scopes) or \
            {"BestEffort", "NotBestEffort"} <= set(scopes):
        errs.append(errors.invalid("spec.scopes", scopes, "conflicting scopes"))
    if spec.get("scopeSelector") is not None:
        errs.append(errors.forbidden("spec.scopeSelector", "podhost evaluates spec.scopes "
                                     "only"))
    return errs


def cells(quota: Obj, now: datetime) -> list[Any]:
    """printResourceQuota: `pods: 1/2` pairs split into request and limit columns."""
    hard = _dict(_dict(quota.get("status")).get("hard")) or \
        _dict(_dict(quota.get("spec")).get("hard"))
    current = _dict(_dict(quota.get("status")).get("used"))
    request: list[str] = []
    limit: list[str] = []
    for name in sorted(hard):
        text = f"{name}: {current.get(name, '0')}/{hard[name]}"
        (limit if name.startswith("limits") else request).append(text)
    return [quota["metadata"]["name"], cols.age(quota, now), ", ".join(request),
            ", ".join(limit)]


GENERIC = Evaluator()
EVALUATORS = {"pods": Evaluator(pod_usage, counts, scoped=True, constraints=missing_resources),
              "services": Evaluator(service_usage),
              "persistentvolumeclaims": Evaluator(claim_usage)}
