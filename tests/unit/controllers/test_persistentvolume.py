"""The PV controller and the ephemeral volume controller over a real Store: binding a static
volume, pvc-protection while a Pod uses the claim, Released volumes, ephemeral claims."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api import volumeclaims
from podhost.api.types import Obj
from podhost.controllers.ephemeralvolume import EphemeralVolumeController
from podhost.controllers.persistentvolume import PersistentVolumeController
from podhost.registry import generic
from podhost.store.sqlite import Store
from tests.unit.controllers.test_controllers import exists, running, store_with_default, until


def create(store: Store, resource: str, obj: Obj, ns: str | None = None) -> Obj:
    """Create as a client's POST would (admission: the default class, the finalizers)."""
    return generic.Registry(store).create(resource, obj, ns)


def phase(store: Store, resource: str, name: str, ns: str = "") -> Any:
    return (store.get(resource, ns, name).get("status") or {}).get("phase")


def test_static_volume_binds_and_is_released_after_the_claim(tmp_path: Path) -> None:
    asyncio.run(_static_volume(tmp_path))


async def _static_volume(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)
    create(store, "persistentvolumes", {"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": str(tmp_path)}}})
    create(store, "persistentvolumeclaims", {"metadata": {"name": "data"}, "spec": {
        "storageClassName": "", "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "100Mi"}}}}, "default")
    pod = generic.prepare_for_create("pods", {"metadata": {"name": "user"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}},
        "default")
    store.create("pods", pod)
    async with running(PersistentVolumeController(store)):
        await until(lambda: phase(store, "persistentvolumeclaims", "data", "default") == "Bound")
        assert phase(store, "persistentvolumes", "pv1") == "Bound"
        pvc = store.get("persistentvolumeclaims", "default", "data")
        assert pvc["spec"]["volumeName"] == "pv1"
        assert pvc["status"]["capacity"] == {"storage": "1Gi"}
        store.update("persistentvolumeclaims", strategy_mark_deleted(pvc))
        await asyncio.sleep(0.2)
        assert exists(store, "persistentvolumeclaims", "default", "data")  # the Pod uses it
        store.delete("pods", "default", "user")
        await until(lambda: not exists(store, "persistentvolumeclaims", "default", "data"))
        await until(lambda: phase(store, "persistentvolumes", "pv1") == "Released")


def strategy_mark_deleted(obj: Obj) -> Obj:
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    obj["metadata"]["deletionGracePeriodSeconds"] = 0
    return obj


def test_ephemeral_claims_follow_their_pod(tmp_path: Path) -> None:
    asyncio.run(_ephemeral(tmp_path))


async def _ephemeral(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)
    for sc in volumeclaims.built_in_classes():
        store.create("storageclasses", generic.prepare_for_create("storageclasses", sc, None))
    pod = generic.prepare_for_create("pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}}}]}},
        "default")
    store.create("pods", pod)
    async with running(EphemeralVolumeController(store)):
        await until(lambda: exists(store, "persistentvolumeclaims", "default", "p-scratch"))
        pvc = store.get("persistentvolumeclaims", "default", "p-scratch")
        assert pvc["spec"]["storageClassName"] == "standard"
        assert pvc["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
        store.delete("pods", "default", "p")
        await until(lambda: bool(store.get("persistentvolumeclaims", "default", "p-scratch")
                                 ["metadata"].get("deletionTimestamp")))
