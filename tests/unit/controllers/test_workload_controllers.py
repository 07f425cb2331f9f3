"""The workload controllers and the garbage collector over a real Store, without the node:
Pods are made Running/Ready or Succeeded by hand, as the node would."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from podhost.api import gc as gc_rules
from podhost.api import meta
from podhost.api.types import Obj
from podhost.controllers import deployutil as du
from podhost.controllers.cronjob import CronJobController
from podhost.controllers.deployment import DeploymentController
from podhost.controllers.gc import GarbageCollector
from podhost.controllers.job import JobController
from podhost.controllers.replicaset import ReplicaSetController, deletion_rank
from podhost.registry import generic
from podhost.store.sqlite import Store
from tests.unit.controllers.test_controllers import running, until

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def store_with_ns(tmp_path: Path) -> Store:
    store = Store(tmp_path / "db")
    store.create("namespaces", generic.prepare_for_create(
        "namespaces", {"metadata": {"name": "default"}}, None))
    store.create("serviceaccounts", generic.prepare_for_create(
        "serviceaccounts", {"metadata": {"name": "default"}}, "default"))
    return store


def create(store: Store, resource: str, name: str, spec: Obj) -> Obj:
    return store.create(resource, generic.prepare_for_create(
        resource, {"metadata": {"name": name}, "spec": copy.deepcopy(spec)}, "default"))


def pods(store: Store) -> list[Obj]:
    return [p for p in store.list("pods", "default")[0]
            if not p["metadata"].get("deletionTimestamp")]


def set_phase(store: Store, phase: str, ready: bool = True) -> None:
    for pod in pods(store):
        if pod["status"].get("phase") == phase:
            continue
        pod["spec"]["nodeName"] = "node"
        pod["status"] = {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False",
             "lastTransitionTime": meta.rfc3339()}]}
        store.update("pods", pod)


def replicas(store: Store, name: str) -> Any:
    return store.get("replicasets", "default", name)["status"].get("readyReplicas", 0)


def test_replicaset_creates_adopts_and_deletes(tmp_path: Path) -> None:
    async def go() -> None:
        store = store_with_ns(tmp_path)
        orphan = generic.prepare_for_create("pods", {"metadata": {"name": "orphan", "labels": {
            "app": "web"}}, "spec": copy.deepcopy(TEMPLATE["spec"])}, "default")
        store.create("pods", orphan)
        create(store, "replicasets", "rs", {"replicas": 3, "selector": {"matchLabels": {
            "app": "web"}}, "template": TEMPLATE})
        async with running(ReplicaSetController(store)):
            await until(lambda: len(pods(store)) == 3)
            assert store.get("pods", "default", "orphan")["metadata"]["ownerReferences"][0][
                "kind"] == "ReplicaSet"
            set_phase(store, "Running")
            await until(lambda: replicas(store, "rs") == 3)
            rs = store.get("replicasets", "default", "rs")
            rs["spec"]["replicas"] = 1
            store.update("replicasets", rs)
            await until(lambda: len(pods(store)) == 1)

    asyncio.run(go())


def test_deletion_rank_prefers_unready_and_newest() -> None:
    def pod(name: str, phase: str, ready: bool, created: str) -> Obj:
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"nodeName": "n"}, "status": {"phase": phase, "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False",
                     "lastTransitionTime": created}]}}
    ranked = sorted([pod("old-ready", "Running", True, "2026-01-01T00:00:00Z"),
                     pod("new-ready", "Running", True, "2026-01-02T00:00:00Z"),
                     pod("pending", "Pending", False, "2026-01-01T00:00:00Z")],
                    key=deletion_rank)
    assert [p["metadata"]["name"] for p in ranked] == ["pending", "new-ready", "old-ready"]


def test_rolling_update_arithmetic() -> None:
    d = {"metadata": {"generation": 1}, "spec": {"replicas": 4, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}
    assert du.surge_and_unavailable(d) == (1, 1)
    old = {"metadata": {"name": "old", "creationTimestamp": "a"}, "spec": {"replicas": 4},
           "status": {"availableReplicas": 4}}
    new = {"metadata": {"name": "new", "creationTimestamp": "b"}, "spec": {"replicas": 0},
           "status": {}}
    assert du.new_rs_replicas(d, [old, new], new) == 1
    new["spec"]["replicas"] = 1
    assert du.old_scale_downs(d, [old], new, [old, new]) == {"old": 3}
    assert du.template_hash(TEMPLATE) == du.template_hash(copy.deepcopy(TEMPLATE))


def test_deployment_rolls_out_and_gc_collects(tmp_path: Path) -> None:
    async def go() -> None:
        store = store_with_ns(tmp_path)
        create(store, "deployments", "web", {"replicas": 2, "selector": {"matchLabels": {
            "app": "web"}}, "template": TEMPLATE})
        async with running(DeploymentController(store), ReplicaSetController(store),
                           GarbageCollector(store)):
            await until(lambda: len(pods(store)) == 2)
            set_phase(store, "Running")
            await until(lambda: store.get("deployments", "default", "web")["status"].get(
                "availableReplicas") == 2)
            d = store.get("deployments", "default", "web")
            assert d["metadata"]["annotations"][du.REVISION] == "1"
            assert d["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
            store.delete("deployments", "default", "web")
            await until(lambda: not store.list("replicasets", "default")[0])
            await until(lambda: not pods(store))

    asyncio.run(go())
def test_job_completes_and_cronjob_starts_jobs(tmp_path: Path) -> None:
    async def go() -> None:
        store = store_with_ns(tmp_path)
        create(store, "jobs", "j", {"completions": 2, "parallelism": 2, "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "b"}]}}})
        create(store, "cronjobs", "cj", {"schedule": "@every 1s", "jobTemplate": {"spec": {
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "b"}]}}}}})
        async with running(JobController(store), CronJobController(store)):
            await until(lambda: len(pods(store)) == 2)
            set_phase(store, "Succeeded", ready=False)
            await until(lambda: any(c["type"] == "Complete" for c in store.get(
                "jobs", "default", "j")["status"].get("conditions", [])))
            assert store.get("jobs", "default", "j")["status"]["succeeded"] == 2
            await until(lambda: len(store.list("jobs", "default")[0]) == 2, timeout=5)
            await asyncio.sleep(0)

    asyncio.run(go())


def test_cronjob_that_never_runs_warns(tmp_path: Path) -> None:
    """February 31st: the controller's InvalidSchedule warning (kubectl's test/cmd/events.sh
    looks for it with `kubectl events`)."""
    async def go() -> None:
        store = store_with_ns(tmp_path)
        create(store, "cronjobs", "pi", {"schedule": "59 23 31 2 *", "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "b"}]}}}}})

        def warned() -> list[Obj]:
            return [e for e in store.list("events", "default")[0]
                    if e["reason"] == "InvalidSchedule"]
        async with running(CronJobController(store)):
            await until(lambda: bool(warned()))
        event = warned()[0]
        assert event["type"] == "Warning" and event["message"] == (
            "invalid schedule: 59 23 31 2 * : time difference between two schedules is less "
            "than 1 second")
        assert not store.list("jobs", "default")[0]

    asyncio.run(go())


def delete_with(store: Store, resource: str, name: str, policy: str) -> None:
    """What the API's DELETE does with a propagation policy."""
    obj = store.get(resource, "default", name)
    gc_rules.add_finalizer(obj, policy)
    if generic.begin_delete(resource, obj, None) == "gone":
        store.delete(resource, "default", name)
    else:
        store.update(resource, obj)


def test_gc_orphans_and_deletes_in_the_foreground(tmp_path: Path) -> None:
    async def go() -> None:
        store = store_with_ns(tmp_path)
        for name in ("kept", "gone"):
            create(store, "replicasets", name, {"replicas": 1, "selector": {"matchLabels": {
                "set": name}}, "template": {**TEMPLATE, "metadata": {"labels": {"set": name}}}})
        async with running(ReplicaSetController(store), GarbageCollector(store)):
            await until(lambda: len(pods(store)) == 2)
            delete_with(store, "replicasets", "kept", "Orphan")
            await until(lambda: not [r for r in store.list("replicasets", "default")[0]
                                     if r["metadata"]["name"] == "kept"])
            orphan = next(p for p in pods(store) if p["metadata"]["labels"]["set"] == "kept")
            assert "ownerReferences" not in orphan["metadata"]
            delete_with(store, "replicasets", "gone", "Foreground")
            rs = store.get("replicasets", "default", "gone")
            assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
            await until(lambda: not store.list("replicasets", "default")[0])
            assert [p["metadata"]["labels"]["set"] for p in store.list("pods", "default")[0]
                    if not p["metadata"].get("deletionTimestamp")] == ["kept"]

    asyncio.run(go())
