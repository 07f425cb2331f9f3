"""Quotas and limit ranges as a new user meets them with real kubectl: `kubectl create quota`
refuses the Pod over it with upstream's message and `kubectl describe quota` shows the usage;
a LimitRange injects its defaults into a Pod that states none."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def namespace(node: Node) -> Iterator[str]:
    name = unique("quota")
    node.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        node.kubectl("delete", "namespace", name, "--wait=false")


def test_quota_refuses_the_pod_over_it(node: Node, namespace: str) -> None:
    node.kubectl("create", "quota", "q", "--hard=pods=1,count/configmaps=5", "-n", namespace)
    node.kubectl("run", "first", "--image=busybox", "--restart=Never", "-n", namespace, "--",
                 "sleep", "3600")
    refused = node.kubectl("run", "second", "--image=busybox", "--restart=Never", "-n",
                           namespace, "--", "sleep", "3600", check=False)
    assert refused.returncode != 0
    assert ('Error from server (Forbidden): pods "second" is forbidden: exceeded quota: q, '
            "requested: pods=1, used: pods=1, limited: pods=1") in refused.stderr
    wait_for(lambda: "pods: 1/1" in node.kubectl("get", "quota", "q", "-n", namespace,
                                                 "--no-headers").stdout, 20, "status.used")
    header = node.kubectl("get", "quota", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "AGE", "REQUEST", "LIMIT"]
    described = node.kubectl("describe", "quota", "q", "-n", namespace).stdout
    assert "pods" in described and "Used" in described and "Hard" in described
    node.kubectl("delete", "pod", "first", "-n", namespace, "--grace-period=0", "--force")


def test_limit_range_injects_defaults(node: Node, namespace: str) -> None:
    node.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"memory": "64Mi"},
                             "defaultRequest": {"memory": "32Mi", "cpu": "50m"}}]}}))
    node.kubectl("run", "plain", "--image=busybox", "--restart=Never", "-n", namespace, "--",
                 "sleep", "3600")
    pod = json.loads(node.kubectl("get", "pod", "plain", "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "64Mi"}, "requests": {"cpu": "50m", "memory": "32Mi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container plain; memory limit for "
        "container plain")
    assert pod["status"]["qosClass"] == "Burstable"
    node.kubectl("delete", "pod", "plain", "-n", namespace, "--grace-period=0", "--force")


def test_priority_class_gives_pods_their_priority(node: Node, namespace: str) -> None:
    listed = node.kubectl("get", "priorityclasses", "--no-headers").stdout
    assert "system-node-critical" in listed and "2000001000" in listed
    name = unique("prio")
    node.kubectl("create", "priorityclass", name, "--value=1000", "--description=test")
    try:
        node.kubectl("run", "ranked", "--image=busybox", "--restart=Never", "-n", namespace,
                     "--overrides", json.dumps({"spec": {"priorityClassName": name}}), "--",
                     "sleep", "3600")
        out = node.kubectl("get", "pod", "ranked", "-n", namespace, "-o",
                           "jsonpath={.spec.priority}").stdout
        assert out == "1000"
        refused = node.kubectl("run", "unranked", "--image=busybox", "--restart=Never", "-n",
                               namespace, "--overrides",
                               json.dumps({"spec": {"priorityClassName": "missing"}}),
                               check=False)
        assert 'pods "unranked" is forbidden: no PriorityClass with name missing was found' \
            in refused.stderr
    finally:
        node.kubectl("delete", "pod", "ranked", "-n", namespace, "--grace-period=0", "--force",
                     check=False)
        node.kubectl("delete", "priorityclass", name)
