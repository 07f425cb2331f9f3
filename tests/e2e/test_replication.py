"""ReplicationControllers and PodTemplates with real kubectl: `kubectl scale rc` through the
scale subresource, the replication manager's Pods, the rc and podtemplates tables."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e


def test_scale_rc(node: Node) -> None:
    name = unique("rc")
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}}}))
    try:
        out = node.kubectl("scale", "rc", name, "--replicas=2").stdout
        assert f"replicationcontroller/{name} scaled" in out
        wait_for(lambda: node.kubectl("get", "rc", name, "--no-headers").stdout.split()[1:4]
                 == ["2", "2", "2"], 60, "two ready replicas")
        header = node.kubectl("get", "rc").stdout.splitlines()[0].split()
        assert header == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert f"replicationcontroller/{name}" in node.kubectl("get", "all").stdout
    finally:
        node.kubectl("delete", "rc", name, "--wait=true", timeout=90)
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}))
    row = node.kubectl("get", "podtemplates", name, "--no-headers").stdout.split()
    assert row == [name, "c", "busybox", f"app={name}"]
    node.kubectl("delete", "podtemplate", name)
