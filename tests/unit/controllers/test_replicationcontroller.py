"""ReplicationControllers: defaults and validation through the registry, and the replication
manager making and adopting Pods by the map selector; PodTemplates."""

from __future__ import annotations

from pathlib import Path

import pytest

from podhost.api import errors, workloads
from podhost.controllers.controller import MANAGER
from podhost.controllers.replicationcontroller import ReplicationManager
from podhost.registry.client import Client
from podhost.registry.generic import Registry
from tests.unit.controllers.test_workload_controllers import store_with_ns

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_rc_defaults_controller_and_scale(tmp_path: Path) -> None:
    client = Client(Registry(store_with_ns(tmp_path)), MANAGER)
    rc = client.create("replicationcontrollers", {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "template": TEMPLATE}})
    assert rc["spec"]["selector"] == {"app": "web"}
    assert rc["metadata"]["labels"] == {"app": "web"} and rc["status"] == {"replicas": 0}
    manager = ReplicationManager(client)
    manager.reconcile("default/web")
    pods = client.list("pods", "default")[0]
    assert len(pods) == 2
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    rc = client.get("replicationcontrollers", "default", "web")
    assert rc["status"]["replicas"] == 2
    assert workloads.scale_of(rc)["status"]["selector"] == "app=web"


def test_rc_validation_and_pod_templates(tmp_path: Path) -> None:
    client = Client(Registry(store_with_ns(tmp_path)), MANAGER)
    with pytest.raises(errors.InvalidError) as bad:
        client.create("replicationcontrollers", {
            "metadata": {"name": "bad", "namespace": "default"},
            "spec": {"selector": {"app": "other"}, "template": TEMPLATE}})
    assert [e.detail for e in bad.value.errors] == [
        "`selector` does not match template `labels`"]
    created = client.create("podtemplates", {"metadata": {"name": "t", "namespace": "default"},
                                             "template": TEMPLATE})
    assert created["template"]["spec"]["restartPolicy"] == "Always"
    with pytest.raises(errors.InvalidError):
        client.create("podtemplates", {"metadata": {"name": "u", "namespace": "default"},
                                       "template": {"spec": {"containers": []}}})
