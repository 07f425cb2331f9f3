"""coordination.k8s.io/v1 Lease: validation, table cells and the node's Lease."""

from datetime import datetime, timezone

from podhost.api import lease


def test_validation_messages() -> None:
    errs = lease.validate({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}})
    assert [str(e) for e in errs] == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"]
    assert lease.validate({"spec": {"leaseDurationSeconds": 15, "holderIdentity": "a"}}) == []


def test_gated_fields_dropped() -> None:
    obj = {"spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "x"}}
    lease.prepare(obj)
    assert obj == {"spec": {}}


def test_node_lease_renewed() -> None:
    now = datetime(2026, 1, 1, 0, 0, 1, 500, tzinfo=timezone.utc)
    node = {"metadata": {"name": "n1", "uid": "u1"}}
    first = lease.node_lease(node, None, now)
    assert first["metadata"]["namespace"] == "kube-node-lease"
    assert first["metadata"]["ownerReferences"][0] == {"apiVersion": "v1", "kind": "Node",
                                                       "name": "n1", "uid": "u1"}
    assert first["spec"] == {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                             "renewTime": "2026-01-01T00:00:01.000500Z"}
    assert lease.cells(first, now) == ["n1", "n1", "0s"]
