"""`--node-name` reaches the API server's Node object; a Pod pinned to another node is not bound
here (no endless DaemonSet Pods); ControllerRevisions carry their owner's annotations (so that
`kubernetes.io/change-cause` reaches `kubectl rollout history`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from podhost.api.types import Obj
from podhost.apiserver.app import ApiServer
from podhost.controllers import revisions
from podhost.node import claims
from podhost.node.streaming import Streaming
from podhost.registry import generic
from podhost.registry.client import Client
from podhost.store.sqlite import Store
from tests.unit.apiserver.helpers import FACTS, TOKEN
from tests.unit.controllers.test_workload_controllers import TEMPLATE, store_with_ns


def test_the_node_object_bears_the_kubelets_name(tmp_path: Path) -> None:
    streaming = Streaming(None, None, {}, asyncio.Event(), None,  # type: ignore[arg-type]
                          node_name="edge-1")
    api = ApiServer(Store(tmp_path / "db"), streaming, token=TOKEN,  # type: ignore[arg-type]
                    node_facts=FACTS)
    assert api.node_name == "edge-1"
    assert api.store.get("nodes", "", "edge-1")["metadata"]["name"] == "edge-1"


def pinned(node: str, operator: str = "In") -> Obj:
    term = {"matchFields": [{"key": "metadata.name", "operator": operator, "values": [node]}]}
    return {"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}}}


def test_a_pod_pinned_to_another_node_is_not_bound_here(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    v = claims.verdict(store, pinned("old-hostname"), [], "edge-1")
    assert v.action == claims.UNSCHEDULABLE
    assert v.message.startswith("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                                "affinity/selector. preemption:")
    assert claims.verdict(store, pinned("edge-1"), [], "edge-1").action == claims.BIND
    assert claims.verdict(store, pinned("other", "NotIn"), [], "edge-1").action == claims.BIND
    assert claims.verdict(store, {"spec": {}}, [], "edge-1").action == claims.BIND


def test_controller_revisions_copy_the_owners_annotations(tmp_path: Path) -> None:
    client = Client(generic.Registry(store_with_ns(tmp_path)), "kube-controller-manager")
    ds = client.create("daemonsets", {
        "metadata": {"name": "agent", "namespace": "default", "annotations": {
            "kubernetes.io/change-cause": "kubectl set image ds/agent c=nginx:2"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}})
    rev, _ = revisions.current(client, ds, "DaemonSet")
    assert rev["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "kubectl set image ds/agent c=nginx:2"}
    plain = client.create("statefulsets", {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE,
                 "serviceName": "db"}})
    rev, _ = revisions.current(client, plain, "StatefulSet")
    assert "annotations" not in rev["metadata"]
