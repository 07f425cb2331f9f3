"""PodDisruptionBudget arithmetic and validation, the eviction verdict, and taints (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from podhost.api import disruption, errors, meta, taints
from podhost.api.types import Obj


def pdb(**spec: object) -> Obj:
    return {"metadata": {"name": "b", "namespace": "ns", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def pod(name: str, ready: bool = True, **extra: object) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}, **extra},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def fields(errs: list[errors.FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.detail) for e in errs]


def test_validation_messages() -> None:
    assert fields(disruption.validate(pdb(minAvailable=1, maxUnavailable=1))) == [
        ("spec", "minAvailable and maxUnavailable cannot be both set")]
    assert fields(disruption.validate(pdb(minAvailable="120%"))) == [
        ("spec.minAvailable", "must not be greater than 100%")]
    assert fields(disruption.validate(pdb(maxUnavailable=-1))) == [
        ("spec.maxUnavailable", "must be greater than or equal to 0")]
    assert disruption.validate(pdb(minAvailable="abc"))[0].detail.startswith(
        "a valid percent string must be")
    bad = pdb(unhealthyPodEvictionPolicy="Never")
    assert disruption.validate(bad)[0].field == "spec.unhealthyPodEvictionPolicy"
    sel = pdb()
    sel["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "In"}]}
    assert fields(disruption.validate(sel)) == [
        ("spec.selector.matchExpressions[0].values",
         "must be specified when `operator` is 'In' or 'NotIn'")]


@pytest.mark.parametrize(("spec", "scale", "expected", "desired"), [
    ({"minAvailable": 2}, 0, 3, 2),        # an integer: the Pods found
    ({"minAvailable": "50%"}, 3, 3, 2),    # a percentage of the controllers' scale, rounded up
    ({"maxUnavailable": 1}, 3, 3, 2),
    ({"maxUnavailable": "100%"}, 3, 3, 0),
])
def test_expected_and_desired(spec: Obj, scale: int, expected: int, desired: int) -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    assert disruption.expected_and_desired(pdb(**spec), pods, scale) == (expected, desired)


def test_status_counts_ready_pods_not_deleting_or_disrupted() -> None:
    now = meta.now()
    budget = pdb(minAvailable=1)
    budget["status"] = {"disruptedPods": {"b": meta.rfc3339(now)}}
    pods = [pod("a"), pod("b"), pod("c", deletionTimestamp="x"), pod("d", ready=False)]
    status, recheck = disruption.status_of(budget, pods, 0, now)
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
            status["disruptionsAllowed"], status["observedGeneration"]) == (1, 1, 4, 0, 1)
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed", "False", "InsufficientPods")
    assert recheck is not None and recheck - now <= timedelta(minutes=2)


def test_decrement_and_refusal() -> None:
    budget = pdb(minAvailable=1)
    budget["status"] = {"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1,
                        "observedGeneration": 1}
    used = disruption.decrement(budget, "a", meta.now())
    assert used["status"]["disruptionsAllowed"] == 0 and "a" in used["status"]["disruptedPods"]
    assert used["status"]["conditions"][0]["reason"] == "InsufficientPods"
    with pytest.raises(errors.TooManyRequestsError) as refused:
        disruption.decrement(used, "b", meta.now())
    status = refused.value.to_status()
    assert status["code"] == 429 and status["reason"] == "TooManyRequests"
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget b needs 1 healthy pods and has 2 currently"}]
    stale = {**budget, "metadata": {**budget["metadata"], "generation": 2}}
    with pytest.raises(errors.TooManyRequestsError) as pending:
        disruption.decrement(stale, "a", meta.now())
    assert pending.value.to_status()["details"]["retryAfterSeconds"] == 10


def test_selection_and_unhealthy_pods() -> None:
    assert disruption.selects(pdb(), pod("a"))
    empty = pdb()
    empty["spec"]["selector"] = {}
    assert not disruption.selects(empty, pod("a"))  # an empty selector matches nothing here
    budget = pdb(minAvailable=1)
    budget["status"] = {"currentHealthy": 1, "desiredHealthy": 1}
    assert disruption.unhealthy_may_go(budget, pod("x", ready=False))
    assert not disruption.unhealthy_may_go(budget, pod("x"))
    assert disruption.can_ignore({**pod("p"), "status": {"phase": "Pending"}})


def test_taints_and_tolerations() -> None:
    node: Obj = {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}
    plain: Obj = {"spec": {}}
    assert taints.unschedulable_reason(node, plain) == "1 node(s) were unschedulable"
    daemon: Obj = {"spec": {"tolerations": [{"key": taints.UNSCHEDULABLE, "operator": "Exists",
                                             "effect": "NoSchedule"}]}}
    assert taints.unschedulable_reason(node, daemon) is None
    node["spec"]["taints"] = taints.with_unschedulable_taint(node)
    assert node["spec"]["taints"] == [{"key": taints.UNSCHEDULABLE, "effect": "NoSchedule"}]
    assert taints.with_unschedulable_taint(node) is None
    node["spec"]["unschedulable"] = False
    assert taints.with_unschedulable_taint(node) == []
    tainted: Obj = {"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}
    assert taints.unschedulable_reason(tainted, plain) == "1 node(s) had untolerated taint {k: v}"
    equal: Obj = {"spec": {"tolerations": [{"key": "k", "value": "v"}]}}
    assert taints.unschedulable_reason(tainted, equal) is None
    everything: Obj = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert taints.unschedulable_reason(tainted, everything) is None


def test_no_execute_delay() -> None:
    node: Obj = {"spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}}
    assert taints.no_execute_delay(node, {"spec": {}}) == 0
    for_a_while: Obj = {"spec": {"tolerations": [{"key": "k", "operator": "Exists",
                                                  "tolerationSeconds": 30}]}}
    assert taints.no_execute_delay(node, for_a_while) == 30
    forever: Obj = {"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}
    assert taints.no_execute_delay(node, forever) is None
