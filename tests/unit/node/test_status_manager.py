"""The kubelet's status manager over the registry's write path (a real store in a temporary
directory, no runtime): binding through `pods/binding`, status through `/status`, the last
delete with grace period 0, and a Pod re-made under the same name left alone."""

from __future__ import annotations

from pathlib import Path

from podhost.api.types import Obj
from podhost.node.events import Recorder
from podhost.node.status_manager import StatusManager
from podhost.registry.client import Client
from podhost.registry.generic import Registry
from podhost.store.sqlite import Store
from tests.unit.controllers.test_controllers import store_with_default

POD: Obj = {"metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def manager(tmp_path: Path) -> tuple[Store, StatusManager]:
    store = store_with_default(tmp_path)
    store.create("serviceaccounts", {"metadata": {"name": "default", "namespace": "default",
                                                  "uid": "sa"}})
    client = Client(Registry(store, node_name="node"), "kubelet")
    return store, StatusManager(client, Recorder(client, "node"), "node")


def test_bind_sets_the_node_through_the_binding_subresource(tmp_path: Path) -> None:
    store, status = manager(tmp_path)
    pod = Client(Registry(store), "kubectl").create("pods", {**POD})
    bound = status.bind(pod)
    assert bound["spec"]["nodeName"] == "node"
    assert bound["status"]["conditions"][0]["type"] == "PodScheduled"
    assert [m["manager"] for m in bound["metadata"]["managedFields"]] == ["kubectl", "kubelet"]
    events = [e["reason"] for e in store.list("events", "default")[0]]
    assert events == ["Scheduled"]


def test_status_writes_keep_the_spec_and_skip_a_new_pod_of_the_same_name(
        tmp_path: Path) -> None:
    store, status = manager(tmp_path)
    user = Client(Registry(store), "kubectl")
    pod = status.bind(user.create("pods", {**POD}))
    running = status.set_status(pod, {"phase": "Running", "podIP": "10.244.0.5"})
    assert running["status"]["phase"] == "Running"
    assert running["spec"] == pod["spec"]
    store.delete("pods", "default", "p")
    again = user.create("pods", {**POD})
    assert status.set_status(pod, {"phase": "Failed"}) is pod  # the old Pod's write is dropped
    assert store.get("pods", "default", "p")["metadata"]["uid"] == again["metadata"]["uid"]
    assert store.get("pods", "default", "p")["status"]["phase"] == "Pending"


def test_remove_deletes_with_grace_zero_or_waits_for_finalizers(tmp_path: Path) -> None:
    store, status = manager(tmp_path)
    user = Client(Registry(store), "kubectl")
    gone = status.bind(user.create("pods", {**POD}))
    status.remove(gone)
    assert store.list("pods", "default")[0] == []
    held = status.bind(user.create("pods", {
        **POD, "metadata": {**POD["metadata"], "finalizers": ["example.com/hold"]}}))
    user.delete_gracefully("pods", held)
    status.remove(store.get("pods", "default", "p"))
    kept = store.get("pods", "default", "p")
    assert kept["metadata"]["deletionGracePeriodSeconds"] == 0
    assert held["metadata"]["uid"] in status.finished
