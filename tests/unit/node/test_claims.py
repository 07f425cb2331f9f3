"""The node's scheduling verdict on Pods with claims (VolumeBinding, VolumeRestrictions)."""

from __future__ import annotations

from pathlib import Path

from podhost.api import volumeclaims
from podhost.api.types import Obj
from podhost.node import claims
from podhost.registry import generic
from podhost.store.sqlite import Store


def pod(name: str, claim: str) -> Obj:
    return generic.prepare_for_create("pods", {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]}},
        "default")


def test_verdicts(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for sc in volumeclaims.built_in_classes():
        store.create("storageclasses", generic.prepare_for_create("storageclasses", sc, None))
    v = claims.verdict(store, pod("p", "data"), [], "node1")
    assert v.action == claims.UNSCHEDULABLE
    assert v.message.startswith('0/1 nodes are available: persistentvolumeclaim "data" not '
                                "found. preemption:")
    pvc = generic.prepare_for_create("persistentvolumeclaims", {"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOncePod"],
                                               "storageClassName": "standard",
                                               "resources": {"requests": {"storage": "1Mi"}}}},
                                      "default")
    store.create("persistentvolumeclaims", pvc)
    assert claims.verdict(store, pod("p", "data"), [], "node1").action == claims.WAIT
    stored = store.get("persistentvolumeclaims", "default", "data")
    assert stored["metadata"]["annotations"][volumeclaims.SELECTED_NODE] == "node1"
    stored["spec"]["volumeName"] = "pv"
    stored["status"] = {"phase": "Bound"}
    store.update("persistentvolumeclaims", stored)
    assert claims.verdict(store, pod("p", "data"), [], "node1").action == claims.BIND
    running = pod("q", "data")
    running["status"]["phase"] = "Running"
    v = claims.verdict(store, pod("p", "data"), [running], "node1")
    assert v.action == claims.UNSCHEDULABLE and "ReadWriteOncePod" in v.message
