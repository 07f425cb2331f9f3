"""The PersistentVolume controller (pkg/controller/volume/persistentvolume/pv_controller.go)
with the pvc-protection and pv-protection controllers.

Keys: `claim:<ns>/<name>`, `volume:<name>` and `pending` (every unbound claim, when a volume
appears or is freed).

* An unbound claim gets the best volume (`api/pvbinding.find_volume`: pre-bound first, then
  the smallest that fits). With a WaitForFirstConsumer class it waits for the scheduler's
  `volume.kubernetes.io/selected-node` (event `WaitForFirstConsumer`); with no volume it is
  handed to its class's provisioner (annotation `volume.kubernetes.io/storage-provisioner`,
  event `ExternalProvisioning`), or it waits with upstream's event when it has no class or an
  unknown one.
* Binding writes the PV's claimRef and phase Bound, then the claim's volumeName, annotations
  and status (phase Bound, access modes, capacity).
* A volume whose claim is gone is Released (its reclaim policy is then the provisioner's
  business: Delete removes it, Retain keeps it Released); a claim whose volume is gone is Lost.
* A deleted claim keeps `kubernetes.io/pvc-protection` while a Pod that is not finished uses
  it; a deleted volume keeps `kubernetes.io/pv-protection` while it is Bound.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterable

from podhost.api import errors, meta, pvbinding, volumeclaims
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client
from podhost.store.watch import Event

WFFC_MESSAGE = "waiting for first consumer to be created before binding"


def _claim_keys(event: Event) -> Iterable[str]:
    obj = event.object
    yield f"claim:{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
    if event.type == "DELETED" and (obj.get("spec") or {}).get("volumeName"):
        yield f"volume:{obj['spec']['volumeName']}"


def _volume_keys(event: Event) -> Iterable[str]:
    pv = event.object
    yield f"volume:{pv['metadata']['name']}"
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if ref.get("name"):
        yield f"claim:{ref.get('namespace')}/{ref['name']}"
    elif event.type != "DELETED":
        yield "pending"


def _pod_keys(event: Event) -> Iterable[str]:
    ns = event.object["metadata"].get("namespace")
    for c in pvbinding.pod_claims(event.object):
        yield f"claim:{ns}/{c.claim}"


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder-controller"

    def __init__(self, store: ObjectStore | Client) -> None:
        super().__init__(store)
        self.reported: dict[str, str] = {}  # claim uid -> the last event reason given

    def watches(self) -> list[Watch]:
        return [Watch("persistentvolumeclaims", _claim_keys),
                Watch("persistentvolumes", _volume_keys), Watch("pods", _pod_keys)]

    def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition(":")
        if kind == "pending":
            for pvc in self.store.list("persistentvolumeclaims")[0]:
                if not (pvc.get("spec") or {}).get("volumeName"):
                    self.sync_claim(pvc)
            return None
        if kind == "volume":
            with contextlib.suppress(errors.NotFoundError):
                self.sync_volume(self.store.get("persistentvolumes", "", rest))
            return None
        ns, _, name = rest.partition("/")
        try:
            pvc = self.store.get("persistentvolumeclaims", ns, name)
        except errors.NotFoundError:
            return None
        return self.sync_claim(pvc)

    # -- claims ----------------------------------------------------------------------------------
    def sync_claim(self, pvc: Obj) -> float | None:
        if pvc["metadata"].get("deletionTimestamp"):
            return self._protect_claim(pvc)
        if (pvc.get("spec") or {}).get("volumeName"):
            self._sync_bound_claim(pvc)
            return None
        self._sync_unbound_claim(pvc)
        return None

    def _class(self, name: str) -> Obj | None:
        try:
            return self.store.get("storageclasses", "", name) if name else None
        except errors.NotFoundError:
            return None

    def _sync_unbound_claim(self, pvc: Obj) -> None:
        class_name = pvbinding.claim_class(pvc)
        sc = self._class(class_name)
        ann = pvc["metadata"].get("annotations") or {}
        delayed = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        selected = volumeclaims.SELECTED_NODE in ann
        pv = pvbinding.find_volume(pvc, self.store.list("persistentvolumes")[0])
        if pv is not None and (not delayed or selected or pvbinding.claim_ref_matches(pv, pvc)):
            self.bind(pv, pvc)
            return
        if delayed and not selected:
            self.event(pvc, "Normal", "WaitForFirstConsumer", WFFC_MESSAGE)
        elif not class_name:
            self.event(pvc, "Normal", "FailedBinding", "no persistent volumes available for "
                       "this claim and no storage class is set")
        elif sc is None:
            self.event(pvc, "Warning", "ProvisioningFailed",
                       f'storageclass.storage.k8s.io "{class_name}" not found')
        else:
            self._hand_to_provisioner(pvc, str(sc.get("provisioner") or ""))

    def _hand_to_provisioner(self, pvc: Obj, provisioner: str) -> None:
        ann = pvc["metadata"].setdefault("annotations", {})
        if ann.get(volumeclaims.STORAGE_PROVISIONER) != provisioner:
            ann[volumeclaims.STORAGE_PROVISIONER] = provisioner
            ann[volumeclaims.BETA_STORAGE_PROVISIONER] = provisioner
            pvc = self.store.update("persistentvolumeclaims", pvc)
        self.event(pvc, "Normal", "ExternalProvisioning", "Waiting for a volume to be created "
                   f"either by the external provisioner '{provisioner}' or manually by the "
                   "system administrator. If volume creation is delayed, please verify that "
                   "the provisioner is running and correctly registered.")

    def bind(self, pv: Obj, pvc: Obj) -> None:
        """bindVolumeToClaim, then bindClaimToVolume, then the two statuses."""
        m = pvc["metadata"]
        pv = copy.deepcopy(pv)
        spec = pv.setdefault("spec", {})
        if not pvbinding.claim_ref_matches(pv, pvc) or not spec["claimRef"].get("uid"):
            if not spec.get("claimRef"):
                pv["metadata"].setdefault("annotations", {})[
                    volumeclaims.BOUND_BY_CONTROLLER] = "yes"
            spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": m["namespace"],
                                "name": m["name"], "uid": m["uid"], "apiVersion": "v1",
                                "resourceVersion": m.get("resourceVersion")}
        _set_phase(pv, "Bound")
        self.store.update("persistentvolumes", pv)
        pvc = copy.deepcopy(pvc)
        ann = pvc["metadata"].setdefault("annotations", {})
        if not pvc["spec"].get("volumeName"):
            pvc["spec"]["volumeName"] = pv["metadata"]["name"]
            ann[volumeclaims.BOUND_BY_CONTROLLER] = "yes"
        ann[volumeclaims.BIND_COMPLETED] = "yes"
        pvc["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or []),
                         "capacity": dict(spec.get("capacity") or {})}
        self.store.update("persistentvolumeclaims", pvc)

    def _sync_bound_claim(self, pvc: Obj) -> None:
        name = pvc["spec"]["volumeName"]
        try:
            pv = self.store.get("persistentvolumes", "", name)
        except errors.NotFoundError:
            if (pvc.get("status") or {}).get("phase") == "Bound":
                pvc["status"]["phase"] = "Lost"
                self.store.update("persistentvolumeclaims", pvc)
                self.event(pvc, "Warning", "ClaimLost", "Bound claim has lost its "
                           "PersistentVolume. Data on the volume is lost!")
            return
        ref = (pv.get("spec") or {}).get("claimRef")
        if not ref or pvbinding.claim_ref_matches(pv, pvc):
            if (pvc.get("status") or {}).get("phase") != "Bound" or \
                    (pv.get("status") or {}).get("phase") != "Bound":
                self.bind(pv, pvc)
            return
        self.event(pvc, "Warning", "FailedBinding",
                   f'volume "{name}" already bound to a different claim.')

    def _protect_claim(self, pvc: Obj) -> float | None:
        m = pvc["metadata"]
        if volumeclaims.PVC_PROTECTION not in (m.get("finalizers") or []):
            return None
        pods = self.store.list("pods", m["namespace"])[0]
        if any(pvbinding.uses_claim(p, m["namespace"], m["name"]) and pvbinding.is_active(p)
               for p in pods):
            return None  # the Pods' events queue the claim again
        self._drop_finalizer("persistentvolumeclaims", pvc, volumeclaims.PVC_PROTECTION)
        return None

    def _drop_finalizer(self, resource: str, obj: Obj, finalizer: str) -> None:
        m = obj["metadata"]
        m["finalizers"] = [f for f in m.get("finalizers") or [] if f != finalizer]
        updated = self.store.update(resource, obj)
        if updated["metadata"].get("deletionTimestamp") and \
                not updated["metadata"].get("finalizers"):
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete(resource, m.get("namespace") or "", m["name"])

    # -- volumes ---------------------------------------------------------------------------------
    def sync_volume(self, pv: Obj) -> None:
        m, spec = pv["metadata"], pv.get("spec") or {}
        phase = (pv.get("status") or {}).get("phase")
        if m.get("deletionTimestamp"):
            if phase != "Bound" and volumeclaims.PV_PROTECTION in (m.get("finalizers") or []):
                self._drop_finalizer("persistentvolumes", pv, volumeclaims.PV_PROTECTION)
            return
        ref = spec.get("claimRef") or {}
        if not ref.get("name"):
            self._volume_phase(pv, "Available")
            return
        try:
            pvc = self.store.get("persistentvolumeclaims", ref.get("namespace") or "",
                                 ref["name"])
        except errors.NotFoundError:
            pvc = None
        if pvc is not None and (not ref.get("uid") or ref["uid"] == pvc["metadata"]["uid"]):
            bound = (pvc.get("spec") or {}).get("volumeName") == m["name"]
            if not bound and phase in (None, "Pending"):
                self._volume_phase(pv, "Available")
            return
        if not ref.get("uid"):  # pre-bound to a claim that does not exist yet
            self._volume_phase(pv, "Available")
        elif phase not in ("Released", "Failed"):
            self._release(pv)

    def _release(self, pv: Obj) -> None:
        spec = pv.get("spec") or {}
        policy = spec.get("persistentVolumeReclaimPolicy")
        provisioned = volumeclaims.PROVISIONED_BY in (pv["metadata"].get("annotations") or {})
        if policy == "Delete" and not provisioned:
            pv["status"] = {**(pv.get("status") or {}), "message": "error getting deleter "
                            "volume plugin for volume " + f'"{pv["metadata"]["name"]}": no '
                            "deletable volume plugin matched"}
            self._volume_phase(pv, "Failed", force=True)
            return
        self._volume_phase(pv, "Released")

    def _volume_phase(self, pv: Obj, phase: str, force: bool = False) -> None:
        if (pv.get("status") or {}).get("phase") == phase and not force:
            return
        _set_phase(pv, phase)
        self.store.update("persistentvolumes", pv)

    def event(self, obj: Obj, kind: str, reason: str, message: str) -> None:
        """Record an event on the claim once per reason and message (upstream's events repeat
        on every resync; one is enough to read in `kubectl describe`)."""
        m = obj["metadata"]
        if self.reported.get(m.get("uid", "")) == reason + message:
            return
        self.reported[m.get("uid", "")] = reason + message
        now = meta.rfc3339()
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{m['name']}.{int(time.time() * 1e9):x}",
                           "namespace": m.get("namespace") or "default", "uid": meta.new_uid(),
                           "creationTimestamp": now},
              "involvedObject": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                 "namespace": m.get("namespace"), "name": m["name"],
                                 "uid": m.get("uid"),
                                 "resourceVersion": m.get("resourceVersion")},
              "reason": reason, "message": message, "type": kind, "count": 1,
              "source": {"component": "persistentvolume-controller"},
              "reportingComponent": "persistentvolume-controller", "reportingInstance": "",
              "firstTimestamp": now, "lastTimestamp": now, "eventTime": None}
        with contextlib.suppress(errors.ApiError):
            self.store.create("events", ev)


def _set_phase(pv: Obj, phase: str) -> None:
    status = pv.setdefault("status", {})
    if status.get("phase") != phase:
        status["phase"] = phase
        status["lastPhaseTransitionTime"] = meta.rfc3339()
    if phase != "Failed":
        status.pop("message", None)
