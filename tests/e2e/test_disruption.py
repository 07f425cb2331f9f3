"""Disruption budgets and cordon as a new user meets them with real kubectl: `kubectl drain`
is refused while a PodDisruptionBudget forbids it and proceeds once allowed; a cordoned node
leaves new Pods Pending with the scheduler's message until `kubectl uncordon`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
UNSCHEDULABLE = "0/1 nodes are available: 1 node(s) were unschedulable."


@pytest.fixture
def node_name(node: Node) -> Iterator[str]:
    name = node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    try:
        yield name
    finally:
        node.kubectl("uncordon", name, check=False)


def deployment(name: str, replicas: int) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "3600"]}]}}}})


def budget(node: Node, name: str) -> dict[str, int]:
    out = node.kubectl("get", "pdb", name, "-o", "jsonpath={.status}").stdout
    return json.loads(out) if out else {}


def test_drain_refused_by_budget_then_allowed(node: Node, node_name: str) -> None:
    name = unique("drained")
    node.kubectl("apply", "-f", "-", input=deployment(name, 2))
    try:
        node.kubectl("rollout", "status", f"deployment/{name}", "--timeout=60s", timeout=70)
        node.kubectl("create", "pdb", name, f"--selector=app={name}", "--min-available=2")
        wait_for(lambda: budget(node, name).get("currentHealthy") == 2, 20, "budget status")
        row = node.kubectl("get", "pdb", name, "--no-headers").stdout.split()
        assert row[:4] == [name, "2", "N/A", "0"]
        refused = node.kubectl("drain", node_name, f"--pod-selector=app={name}",
                               "--ignore-daemonsets", "--timeout=8s", check=False, timeout=30)
        assert refused.returncode != 0
        assert REFUSED in refused.stderr
        assert len(node.kubectl("get", "pods", "-l", f"app={name}", "--no-headers")
                   .stdout.splitlines()) == 2  # nothing evicted
        node.kubectl("patch", "pdb", name, "--type=merge", "-p",
                     '{"spec":{"minAvailable":0}}')
        wait_for(lambda: budget(node, name).get("disruptionsAllowed") == 2, 20, "allowed")
        drained = node.kubectl("drain", node_name, f"--pod-selector=app={name}",
                               "--ignore-daemonsets", "--timeout=60s", timeout=90)
        assert f"node/{node_name} drained" in drained.stdout
        assert "evicted" in drained.stdout
        # the Deployment's new Pods wait: the drained node is cordoned
        pending = wait_for(lambda: [p for p in json.loads(node.kubectl(
            "get", "pods", "-l", f"app={name}", "-o", "json").stdout)["items"]
            if p["status"].get("conditions")], 20, "replacement Pods")
        assert pending[0]["status"]["conditions"][0]["message"].startswith(UNSCHEDULABLE)
    finally:
        node.kubectl("uncordon", node_name, check=False)
        node.kubectl("delete", "pdb", name, "--ignore-not-found")
        node.kubectl("delete", "deployment", name, "--ignore-not-found", "--wait=true",
                     timeout=90)


def test_cordoned_node_leaves_pods_pending(node: Node, node_name: str) -> None:
    name = unique("cordoned")
    node.kubectl("cordon", node_name)
    try:
        assert "SchedulingDisabled" in node.kubectl("get", "node", node_name).stdout
        taints = node.kubectl("get", "node", node_name, "-o", "jsonpath={.spec.taints}").stdout
        wait_for(lambda: "node.kubernetes.io/unschedulable" in node.kubectl(
            "get", "node", node_name, "-o", "jsonpath={.spec.taints}").stdout, 10,
            f"the unschedulable taint ({taints})")
        node.kubectl("run", name, "--image=busybox", "--restart=Never", "--", "sleep", "3600")

        def condition() -> dict[str, str] | None:
            pod = json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout)
            return next((c for c in pod["status"].get("conditions") or []
                         if c["type"] == "PodScheduled"), None)
        scheduled = wait_for(condition, 20, "PodScheduled")
        assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
        assert scheduled["message"].startswith(UNSCHEDULABLE)
        assert "Pending" in node.kubectl("get", "pod", name, "--no-headers").stdout
        events = node.kubectl("get", "events", f"--field-selector=involvedObject.name={name}")
        assert "FailedScheduling" in events.stdout and UNSCHEDULABLE in events.stdout
        node.kubectl("uncordon", node_name)
        node.wait_ready(name, 40)
        assert "taints" not in node.kubectl("get", "node", node_name, "-o", "json").stdout
    finally:
        node.kubectl("uncordon", node_name, check=False)
        node.kubectl("delete", "pod", name, "--ignore-not-found", "--grace-period=0",
                     "--force", check=False)
