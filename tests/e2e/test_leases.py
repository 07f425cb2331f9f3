"""Leases: the node's own heartbeat Lease, and Leases as leader election uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lease_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("leases") / "root")
    try:
        yield n
    finally:
        stop_node(n)


def test_node_lease(lease_node: Node) -> None:
    node = lease_node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    rows = lease_node.kubectl("get", "leases", "-n", "kube-node-lease").stdout.splitlines()
    assert rows[0].split() == ["NAME", "HOLDER", "AGE"]
    assert rows[1].split()[:2] == [node, node]
    got = json.loads(lease_node.kubectl("get", "lease", node, "-n", "kube-node-lease", "-o",
                                        "json").stdout)
    assert got["spec"]["leaseDurationSeconds"] == 40
    assert got["metadata"]["ownerReferences"][0]["kind"] == "Node"


def test_leader_election_lease(lease_node: Node) -> None:
    lease_node.kubectl("apply", "-f", "-", input="""apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: my-operator}
spec: {holderIdentity: pod-a, leaseDurationSeconds: 15, leaseTransitions: 0}
""")
    lease_node.kubectl("patch", "lease", "my-operator", "--type=merge", "-p",
                       '{"spec":{"holderIdentity":"pod-b","leaseTransitions":1}}')
    assert lease_node.kubectl("get", "lease", "my-operator", "-o",
                              "jsonpath={.spec.holderIdentity}").stdout == "pod-b"
    bad = lease_node.kubectl("apply", "-f", "-", check=False, input="""\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: bad}
spec: {leaseDurationSeconds: 0}
""")
    assert ('The Lease "bad" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be '
            "greater than 0") in bad.stderr
