"""Taints and tolerations on the one node, pure: whether a Pod tolerates a taint
(v1helper.ToleratesTaint), the scheduler's NodeUnschedulable and TaintToleration filters with
their messages, the node lifecycle controller's `node.kubernetes.io/unschedulable` taint, and
the taint manager's NoExecute verdict (tolerationSeconds)."""

from __future__ import annotations

from typing import Any

from podhost.api.types import Obj

UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
UNSCHEDULABLE_TAINT: Obj = {"key": UNSCHEDULABLE, "effect": "NoSchedule"}
FILTERED = ("NoSchedule", "NoExecute")  # what the scheduler's filter looks at


def _list(value: Any) -> list[Obj]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """ToleratesTaint: same effect (or none), same key (or an empty key with Exists), and
    Exists or an equal value."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key != (taint.get("key") or "") and not (key == "" and operator == "Exists"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(pod: Obj, taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in _list((pod.get("spec") or {}).get("tolerations")))


def node_taints(node: Obj) -> list[Obj]:
    return _list((node.get("spec") or {}).get("taints"))


def unschedulable_reason(node: Obj, pod: Obj) -> str | None:
    """Why the scheduler's filters leave the Pod off the node (NodeUnschedulable first, then
    TaintToleration), or None when it fits."""
    if (node.get("spec") or {}).get("unschedulable") and not tolerated(pod, UNSCHEDULABLE_TAINT):
        return "1 node(s) were unschedulable"
    for taint in node_taints(node):
        if taint.get("effect") in FILTERED and not tolerated(pod, taint):
            return (f"1 node(s) had untolerated taint {{{taint.get('key', '')}: "
                    f"{taint.get('value', '')}}}")
    return None


def with_unschedulable_taint(node: Obj) -> list[Obj] | None:
    """The node's taints once the lifecycle controller has matched `spec.unschedulable` (the
    NoSchedule taint added on cordon, removed on uncordon); None when they already match."""
    taints = node_taints(node)
    has = any(t.get("key") == UNSCHEDULABLE and t.get("effect") == "NoSchedule" for t in taints)
    wanted = bool((node.get("spec") or {}).get("unschedulable"))
    if has == wanted:
        return None
    if wanted:
        return [*taints, dict(UNSCHEDULABLE_TAINT)]
    return [t for t in taints if not (t.get("key") == UNSCHEDULABLE and
                                      t.get("effect") == "NoSchedule")]


def no_execute_delay(node: Obj, pod: Obj) -> float | None:
    """The taint manager: None when the Pod may stay; otherwise in how many seconds it must
    go (0: now), the smallest tolerationSeconds of the NoExecute taints it tolerates only for a
    while."""
    delay: float | None = None
    tolerations = _list((pod.get("spec") or {}).get("tolerations"))
    for taint in node_taints(node):
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0
        bounded = [t["tolerationSeconds"] for t in matching
                   if isinstance(t.get("tolerationSeconds"), int)]
        if len(bounded) == len(matching):
            seconds = max(0, min(bounded))
            delay = seconds if delay is None else min(delay, seconds)
    return delay
