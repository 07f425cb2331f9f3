"""Clients nobody here wrote, against a real node: the official Python client creates the apps/v1
kinds (it refuses a status without its zero-valued fields), patches a Service's ports (merged by
`port`, as the client's own test_service_apis expects), reads qualified Status errors and the
status line's reason phrase; kubectl -v6 prints the reason phrase too."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

LABELS = {"app": "clients"}
TEMPLATE = {"metadata": {"labels": LABELS}, "spec": {
    "terminationGracePeriodSeconds": 0,
    "containers": [{"name": "web", "image": "nginx", "imagePullPolicy": "IfNotPresent"}]}}


@pytest.fixture(scope="module")
def api(node: Node) -> Any:
    from kubernetes import config

    return config.new_client_from_config(str(node.kubeconfig))


@pytest.fixture
def namespace(node: Node) -> Iterator[str]:
    name = f"clients-{uuid.uuid4().hex[:5]}"
    node.kubectl("create", "namespace", name)
    yield name
    node.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_python_client_creates_daemonset_replicaset_statefulset(api: Any,
                                                                namespace: str) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(api)
    spec = {"selector": {"matchLabels": LABELS}, "template": TEMPLATE}
    ds = apps.create_namespaced_daemon_set(namespace, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": spec})
    assert ds.status.current_number_scheduled == 0 and ds.status.number_ready == 0
    rs = apps.create_namespaced_replica_set(namespace, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
        "spec": {**spec, "replicas": 0}})
    assert rs.status.replicas == 0
    sts = apps.create_namespaced_stateful_set(namespace, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sts"},
        "spec": {**spec, "replicas": 0, "serviceName": "sts"}})
    assert sts.status.replicas == 0
    assert apps.read_namespaced_daemon_set("ds", namespace).metadata.name == "ds"


def test_python_client_service_port_patch_keeps_both_ports(api: Any, namespace: str) -> None:
    """The official client's e2e test_service_apis: a patch adding port 443 keeps port 80."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    core.create_namespaced_service(namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "frontend"},
        "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80,
                                                "targetPort": 80}]}})
    patched = core.patch_namespaced_service("frontend", namespace, {
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 443}]}})
    assert sorted(p.port for p in patched.spec.ports) == [80, 443]


def test_python_client_reads_qualified_errors_and_reason_phrases(api: Any,
                                                                 namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    apps = client.AppsV1Api(api)
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment("missing", namespace)
    assert e.value.status == 404 and e.value.reason == "Not Found"
    assert '"message":"deployments.apps \\"missing\\" not found"' in e.value.body
    assert '"details":{"name":"missing","group":"apps","kind":"deployments"}' in e.value.body
    assert e.value.body.endswith("}\n")


def test_kubectl_prints_the_reason_phrase(node: Node) -> None:
    result = node.kubectl("get", "namespace", "default", "-v=6")
    assert " 200 OK in " in result.stderr, result.stderr


def test_rollout_history_shows_the_change_cause(node: Node, namespace: str) -> None:
    """ControllerRevisions copy their owner's annotations (kubectl's own cmd tests)."""
    manifest = f"""
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: {namespace}
  annotations:
    kubernetes.io/change-cause: first rollout
spec:
  selector:
    matchLabels: {{app: agent}}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: web
        image: nginx
        imagePullPolicy: IfNotPresent
"""
    node.kubectl("apply", "-f", "-", input=manifest)
    for _ in range(50):
        out = node.kubectl("rollout", "history", "ds/agent", "-n", namespace).stdout
        if "first rollout" in out:
            break
        time.sleep(0.2)
    assert "1         first rollout" in out, out
