"""`podhost serve --node-name NAME`: the API server's Node object is NAME as the kubelet's is,
and a DaemonSet on the one node makes one Pod (with the hostname as the Node's name, its Pod was
bound elsewhere and the controller made Pods without end)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: web
        image: nginx
        imagePullPolicy: IfNotPresent
"""


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("named") / "root"
    n = start_node(root, ["--node-name", "edge-1", "--registries-conf", str(registries_conf)])
    try:
        yield n
    finally:
        subprocess.run(["kubectl", "delete", "ds,pods", "--all", "--wait=true", "--timeout=60s"],
                       env=n.env(), capture_output=True, timeout=90)
        stop_node(n)


def test_the_node_and_the_daemonset_pod_bear_the_name(named: Node) -> None:
    assert named.kubectl("get", "nodes", "-o", "name").stdout.split() == ["node/edge-1"]
    named.kubectl("apply", "-f", "-", input=DAEMONSET)
    named.kubectl("rollout", "status", "ds/agent", "--timeout=90s", timeout=100)
    time.sleep(3)  # the controller's later passes must not add Pods
    pods = json.loads(named.kubectl("get", "pods", "-l", "app=agent", "-o", "json").stdout)
    assert [p["spec"]["nodeName"] for p in pods["items"]] == ["edge-1"]
    ds = json.loads(named.kubectl("get", "ds", "agent", "-o", "json").stdout)
    assert ds["status"]["desiredNumberScheduled"] == 1 and ds["status"]["numberReady"] == 1
