"""PodDisruptionBudgets, pure: validation (pkg/apis/policy/validation), the disruption
controller's arithmetic (pkg/controller/disruption: expected pods, desired and current healthy,
disruptions allowed, the DisruptionAllowed condition) and the eviction subresource's verdict
(pkg/registry/core/pod/storage/eviction.go)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from podhost.api import errors, meta
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import _int_or_percent, go_selector, selector_matches

POLICIES = ["AlwaysAllow", "IfHealthyBudget"]
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
DELETION_TIMEOUT = timedelta(minutes=2)  # how long an approved eviction keeps a Pod unhealthy
EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
CAUSE = "DisruptionBudget"


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _int_or_percent_errors(value: Any, path: str) -> list[FieldError]:
    """ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        return [errors.invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    return _int_or_percent(value, path)[1]


def selector_errors(selector: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector: the operators and their values."""
    errs: list[FieldError] = []
    for i, req in enumerate(_dict(selector).get("matchExpressions") or []):
        req = _dict(req)
        p, op, values = f"{path}.matchExpressions[{i}]", req.get("operator"), req.get("values")
        if op in ("In", "NotIn") and not values:
            errs.append(errors.required(f"{p}.values", "must be specified when `operator` is "
                                        "'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(errors.forbidden(f"{p}.values", "may not be specified when `operator` "
                                         "is 'Exists' or 'DoesNotExist'"))
        elif op not in OPERATORS:
            errs.append(errors.invalid(f"{p}.operator", op, "not a valid selector operator"))
    return errs


def validate(pdb: Obj) -> list[FieldError]:
    """ValidatePodDisruptionBudget."""
    spec = _dict(pdb.get("spec"))
    errs: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(errors.invalid("spec", go_spec(spec),
                                   "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            errs += _int_or_percent_errors(spec[key], f"spec.{key}")
    errs += selector_errors(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in POLICIES:
        errs.append(errors.not_supported("spec.unhealthyPodEvictionPolicy", policy, POLICIES))
    return errs


def go_spec(spec: Obj) -> str:
    """The spec as the API server prints it (%#v) in the both-set message."""
    def intstr(v: Any) -> str:
        if v is None:
            return "(*intstr.IntOrString)(nil)"
        if isinstance(v, str):
            return f'&intstr.IntOrString{{Type:1, IntVal:0, StrVal:"{v}"}}'
        return f'&intstr.IntOrString{{Type:0, IntVal:{v}, StrVal:""}}'
    sel = "(*v1.LabelSelector)(nil)" if spec.get("selector") is None else \
        str(go_selector(spec.get("selector")))
    policy = spec.get("unhealthyPodEvictionPolicy")
    policy_text = f"(*policy.UnhealthyPodEvictionPolicyType)({policy!r})" if policy else \
        "(*policy.UnhealthyPodEvictionPolicyType)(nil)"
    return (f"policy.PodDisruptionBudgetSpec{{MinAvailable:{intstr(spec.get('minAvailable'))}, "
            f"Selector:{sel}, MaxUnavailable:{intstr(spec.get('maxUnavailable'))}, "
            f"UnhealthyPodEvictionPolicy:{policy_text}}}")


def initial_status() -> Obj:
    """The zero-valued status kube-apiserver returns for a new budget."""
    return {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
            "expectedPods": 0}


def selects(pdb: Obj, pod: Obj) -> bool:
    """The budget covers the Pod: same namespace, a non-empty selector that matches (a nil or
    empty selector matches nothing here, as the eviction handler and the controller read it)."""
    sel = _dict(_dict(pdb.get("spec")).get("selector"))
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        return False
    pm = _dict(pod.get("metadata"))
    return pm.get("namespace") == _dict(pdb.get("metadata")).get("namespace") and \
        selector_matches(sel, pm.get("labels"))


def scaled(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent rounding up."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in _dict(pod.get("status")).get("conditions") or [])


def expected_and_desired(pdb: Obj, pods: list[Obj], scale: int) -> tuple[int, int]:
    """getExpectedPodCount: (expected Pods, desired healthy); `scale` is the sum of the
    replicas of the Pods' controllers (getExpectedScale)."""
    spec = _dict(pdb.get("spec"))
    if spec.get("maxUnavailable") is not None:
        return scale, max(0, scale - scaled(spec["maxUnavailable"], scale))
    minimum = spec.get("minAvailable")
    if isinstance(minimum, int):
        return len(pods), minimum
    if isinstance(minimum, str):
        return scale, scaled(minimum, scale)
    return 0, 0


def disrupted_pods(pdb: Obj, pods: list[Obj], now: datetime) -> tuple[Obj, datetime | None]:
    """buildDisruptedPodMap: approved evictions still within the deletion timeout, and when to
    look again."""
    known = _dict(_dict(pdb.get("status")).get("disruptedPods"))
    result: Obj = {}
    recheck = None
    for pod in pods:
        m = pod["metadata"]
        if m.get("deletionTimestamp") or m["name"] not in known:
            continue
        expected = meta.parse_time(known[m["name"]]) + DELETION_TIMEOUT
        if expected >= now:
            result[m["name"]] = known[m["name"]]
            recheck = expected if recheck is None or expected < recheck else recheck
    return result, recheck


def current_healthy(pods: list[Obj], disrupted: Obj) -> int:
    """countHealthyPods: ready Pods neither deleting nor about to be evicted."""
    return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
               and p["metadata"]["name"] not in disrupted and ready(p))


def allowed_condition(status: Obj, now: str) -> Obj:
    """UpdateDisruptionAllowedCondition: the DisruptionAllowed condition for `status`."""
    allowed = status.get("disruptionsAllowed", 0) > 0
    new = {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
           "reason": "SufficientPods" if allowed else "InsufficientPods", "message": "",
           "observedGeneration": status.get("observedGeneration", 0)}
    return with_condition(status, new, now)


def with_condition(status: Obj, new: Obj, now: str) -> Obj:
    """meta.SetStatusCondition: the transition time moves only when the status changes."""
    conds = [c for c in status.get("conditions") or [] if c.get("type") != new["type"]]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == new["type"]), None)
    new["lastTransitionTime"] = old["lastTransitionTime"] \
        if old and old.get("status") == new["status"] and old.get("lastTransitionTime") else now
    return {**status, "conditions": [*conds, new]}


def status_of(pdb: Obj, pods: list[Obj], scale: int, now: datetime) -> tuple[Obj, datetime | None]:
    """The budget's status (updatePdbStatus), and when to compute it again."""
    expected, desired = expected_and_desired(pdb, pods, scale)
    disrupted, recheck = disrupted_pods(pdb, pods, now)
    healthy = current_healthy(pods, disrupted)
    allowed = healthy - desired if expected > 0 and healthy > desired else 0
    status: Obj = {"currentHealthy": healthy, "desiredHealthy": desired,
                   "disruptionsAllowed": allowed, "expectedPods": expected,
                   "observedGeneration": pdb["metadata"].get("generation", 1),
                   "conditions": _dict(pdb.get("status")).get("conditions") or []}
    if disrupted:
        status["disruptedPods"] = disrupted
    return allowed_condition(status, meta.rfc3339(now)), recheck


def failed_status(pdb: Obj, message: str, now: datetime) -> Obj:
    """failSafe: no disruption allowed, the SyncFailed reason and why."""
    status = {**initial_status(), **_dict(pdb.get("status")), "disruptionsAllowed": 0}
    return with_condition(status, {"type": "DisruptionAllowed", "status": "False",
                                   "reason": "SyncFailed", "message": message,
                                   "observedGeneration": status.get("observedGeneration", 0)},
                          meta.rfc3339(now))


# -- the eviction subresource ------------------------------------------------------------------
def too_many_requests(message: str, retry_after: int = 0) -> errors.TooManyRequestsError:
    """NewTooManyRequests with the budget's cause (retryAfterSeconds only when not 0)."""
    err = errors.TooManyRequestsError(EVICTION_REFUSED, retry_after)
    err.extra_details = {"causes": [{"reason": CAUSE, "message": message}]}
    if retry_after:
        err.extra_details["retryAfterSeconds"] = retry_after
    return err


def can_ignore(pod: Obj) -> bool:
    """canIgnorePDB: finished, Pending or already deleting Pods are deleted at once."""
    return _dict(pod.get("status")).get("phase") in ("Succeeded", "Failed", "Pending") or \
        bool(pod["metadata"].get("deletionTimestamp"))


def unhealthy_may_go(pdb: Obj, pod: Obj) -> bool:
    """A Pod that is not ready may be evicted without using the budget: always with the
    AlwaysAllow policy, otherwise while the budget is met (IfHealthyBudget)."""
    if ready(pod):
        return False
    if _dict(pdb.get("spec")).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = _dict(pdb.get("status"))
    desired = status.get("desiredHealthy", 0)
    return bool(status.get("currentHealthy", 0) >= desired > 0)


def decrement(pdb: Obj, pod_name: str, now: datetime) -> Obj:
    """checkAndDecrement: the budget with one disruption used and the Pod recorded as disrupted;
    429 (or 403) when it allows none."""
    m, status = pdb["metadata"], _dict(pdb.get("status"))
    if status.get("observedGeneration", 0) < m.get("generation", 1):
        raise too_many_requests(f"The disruption budget {m['name']} is still being processed "
                                "by the server.", 10)
    allowed = int(status.get("disruptionsAllowed", 0))
    if allowed < 0:
        raise errors.ForbiddenError(f'poddisruptionbudget.policy "{m["name"]}" is forbidden: '
                                    "pdb disruptions allowed is negative",
                                    kind="poddisruptionbudget", name=m["name"])
    if allowed == 0:
        raise too_many_requests(f"The disruption budget {m['name']} needs "
                                f"{status.get('desiredHealthy', 0)} healthy pods and has "
                                f"{status.get('currentHealthy', 0)} currently")
    new = {**status, "disruptionsAllowed": allowed - 1}
    if allowed - 1 == 0:
        new = allowed_condition(new, meta.rfc3339(now))
    new["disruptedPods"] = {**_dict(status.get("disruptedPods")), pod_name: meta.rfc3339(now)}
    return {**pdb, "status": new}
