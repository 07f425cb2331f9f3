"""The built-in local provisioner and resizer (`podhost.io/local-path`), node side: what
external-provisioner and external-resizer do next to a CSI driver, without a helper Pod or an
image, so it works offline.

It watches claims and volumes through the ObjectStore:

* a claim the PV controller handed to this provisioner (annotation
  `volume.kubernetes.io/storage-provisioner`; for a WaitForFirstConsumer class only once the
  scheduler picked the node, `volume.kubernetes.io/selected-node`) gets a directory in the pool
  (`volumes/localpv.py`, hard capacity) and a `local` PersistentVolume `pvc-<claim uid>`
  pre-bound to it, which the PV controller then binds;
* a bound claim asking for more storage than its volume has grows online: the limit is raised
  on the mounted volume, then the PV's capacity and the claim's `status.capacity`;
* a Released volume of this provisioner with reclaim policy Delete loses its data, then the
  PersistentVolume object goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from podhost.api import errors, meta, volumeclaims
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.volumes.localpv import LocalPool, StorageError, volume_dir_name

log = logging.getLogger(__name__)

PROVISIONER = volumeclaims.LOCAL_PROVISIONER
CAPACITY_ANNOTATION = "podhost.io/capacity-limit"  # "btrfs-qgroup" or "none"
RETRY = 5.0


def volume_for(pvc: Obj, sc: Obj, path: Path, node_name: str, enforced: bool) -> Obj:
    """The `local` PersistentVolume made for `pvc` (pure)."""
    m, spec = pvc["metadata"], pvc.get("spec") or {}
    size = str(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{m['uid']}", "finalizers": [volumeclaims.PV_PROTECTION],
                     "annotations": {volumeclaims.PROVISIONED_BY: sc.get("provisioner"),
                                     CAPACITY_ANNOTATION: "btrfs-qgroup" if enforced
                                     else "none"}},
        "spec": {"capacity": {"storage": size}, "accessModes": list(spec.get("accessModes")
                                                                    or []),
                 "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                 "storageClassName": sc["metadata"]["name"], "volumeMode": "Filesystem",
                 "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                              "namespace": m.get("namespace"), "name": m["name"],
                              "uid": m["uid"], "resourceVersion": m.get("resourceVersion")},
                 "local": {"path": str(path)},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In",
                      "values": [node_name]}]}]}}}}


class LocalProvisioner:
    def __init__(self, store: ObjectStore, pool: LocalPool, node_name: str) -> None:
        self.store, self.pool, self.node_name = store, pool, node_name
        self._handlers = {"persistentvolumeclaims": self.sync_claim,
                          "persistentvolumes": self.reclaim}

    async def run(self) -> None:
        if self.pool.image.exists():  # volumes made before: mounted again (after a reboot)
            await asyncio.to_thread(self.pool.ensure)
        tasks = [asyncio.ensure_future(self._watch(r)) for r in self._handlers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _watch(self, resource: str) -> None:
        while True:
            watcher, _ = self.store.watch(resource, None, None, lambda o: True)
            try:
                for obj in self.store.list(resource)[0]:
                    self.handle(resource, obj)
                while (event := await watcher.queue.get()) is not None:
                    if event.type != "DELETED":
                        self.handle(resource, event.object)
            finally:
                self.store.unwatch(watcher)

    def handle(self, resource: str, obj: Obj) -> None:
        try:
            self._handlers[resource](obj)
        except (StorageError, OSError) as e:
            self._failed(resource, obj, str(e))
        except errors.ApiError as e:
            log.debug("local provisioner: %s %s: %s", resource, obj["metadata"]["name"], e)

    def sync_claim(self, pvc: Obj) -> None:
        if (pvc.get("spec") or {}).get("volumeName"):
            self.expand(pvc)
        else:
            self.provision(pvc)

    def _failed(self, resource: str, obj: Obj, message: str) -> None:
        name = obj["metadata"]["name"]
        log.warning("local provisioner: %s %s: %s", resource, name, message)
        if obj.get("kind") == "PersistentVolumeClaim":
            sc = (obj.get("spec") or {}).get("storageClassName")
            self.event(obj, "Warning", "ProvisioningFailed", f'failed to provision volume with '
                       f'StorageClass "{sc}": {message}')
        ns = obj["metadata"].get("namespace") or ""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(RETRY, self._again, resource, ns, name)

    def _again(self, resource: str, ns: str, name: str) -> None:
        with contextlib.suppress(errors.NotFoundError):
            self.handle(resource, self.store.get(resource, ns, name))

    def _class(self, pvc: Obj) -> Obj | None:
        name = (pvc.get("spec") or {}).get("storageClassName")
        try:
            return self.store.get("storageclasses", "", name) if name else None
        except errors.NotFoundError:
            return None

    def provision(self, pvc: Obj) -> None:
        m = pvc["metadata"]
        ann = m.get("annotations") or {}
        if m.get("deletionTimestamp") or \
                ann.get(volumeclaims.STORAGE_PROVISIONER) not in volumeclaims.LOCAL_PROVISIONERS:
            return
        sc = self._class(pvc)
        if sc is None or sc.get("provisioner") not in volumeclaims.LOCAL_PROVISIONERS:
            return
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and \
                volumeclaims.SELECTED_NODE not in ann:
            return
        with contextlib.suppress(errors.NotFoundError):
            self.store.get("persistentvolumes", "", f"pvc-{m['uid']}")
            return  # made already
        self.event(pvc, "Normal", "Provisioning", "External provisioner is provisioning volume "
                   f'for claim "{m.get("namespace")}/{m["name"]}"')
        dir_name = volume_dir_name(m["uid"], m.get("namespace") or "", m["name"])
        path = self.pool.create(dir_name, volumeclaims.storage_request(pvc))
        pv = volume_for(pvc, sc, path, self.node_name, self.pool.mode == "btrfs")
        try:
            self.store.create("persistentvolumes", pv)
        except errors.ApiError:
            self.pool.delete(dir_name)  # nothing half made
            raise
        self.event(pvc, "Normal", "ProvisioningSucceeded",
                   f"Successfully provisioned volume {pv['metadata']['name']}")

    def _own_volume(self, name: str) -> tuple[Obj, str] | None:
        try:
            pv = self.store.get("persistentvolumes", "", name)
        except errors.NotFoundError:
            return None
        if (pv["metadata"].get("annotations") or {}).get(volumeclaims.PROVISIONED_BY) not in \
                volumeclaims.LOCAL_PROVISIONERS:
            return None
        path = Path(((pv.get("spec") or {}).get("local") or {}).get("path") or "")
        if path.parent != self.pool.path:
            return None
        return pv, path.name

    def expand(self, pvc: Obj) -> None:
        """ControllerExpandVolume and NodeExpandVolume in one: the limit grows online."""
        own = self._own_volume(pvc["spec"]["volumeName"])
        if own is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return
        pv, dir_name = own
        want = volumeclaims.storage_request(pvc)
        if want <= volumeclaims.capacity(pv):
            return
        size = str(pvc["spec"]["resources"]["requests"]["storage"])
        self.event(pvc, "Normal", "Resizing",
                   f"External resizer is resizing volume {pv['metadata']['name']}")
        self.pool.resize(dir_name, want)
        pv["spec"]["capacity"]["storage"] = size
        self.store.update("persistentvolumes", pv)
        current = self.store.get("persistentvolumeclaims", pvc["metadata"]["namespace"],
                                 pvc["metadata"]["name"])
        status = current.setdefault("status", {})
        status.setdefault("capacity", {})["storage"] = size
        status["allocatedResources"] = {"storage": size}
        status.pop("conditions", None)
        self.store.update("persistentvolumeclaims", current)
        self.event(current, "Normal", "VolumeResizeSuccessful", "Resize volume succeeded")

    def reclaim(self, pv: Obj) -> None:
        """Delete: the data, then the object. Retain: nothing (the PV stays Released)."""
        spec = pv.get("spec") or {}
        if (pv.get("status") or {}).get("phase") != "Released" or \
                spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        own = self._own_volume(pv["metadata"]["name"])
        if own is None:
            return
        self.pool.delete(own[1])
        with contextlib.suppress(errors.NotFoundError):
            self.store.delete("persistentvolumes", "", pv["metadata"]["name"])

    def event(self, obj: Obj, kind: str, reason: str, message: str) -> None:
        m = obj["metadata"]
        now = meta.rfc3339()
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{m['name']}.{int(time.time() * 1e9):x}",
                           "namespace": m.get("namespace") or "default", "uid": meta.new_uid(),
                           "creationTimestamp": now},
              "involvedObject": {"kind": obj.get("kind") or "PersistentVolumeClaim",
                                 "apiVersion": "v1", "namespace": m.get("namespace"),
                                 "name": m["name"], "uid": m.get("uid"),
                                 "resourceVersion": m.get("resourceVersion")},
              "reason": reason, "message": message, "type": kind, "count": 1,
              "source": {"component": f"{PROVISIONER}_{self.node_name}"},
              "reportingComponent": PROVISIONER, "reportingInstance": self.node_name,
              "firstTimestamp": now, "lastTimestamp": now, "eventTime": None}
        with contextlib.suppress(errors.ApiError):
            self.store.create("events", ev)

