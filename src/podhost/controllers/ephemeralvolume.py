"""The ephemeral volume controller (pkg/controller/volume/ephemeral): a Pod's generic ephemeral
volume (`volumes[].ephemeral.volumeClaimTemplate`) gets the claim `<pod>-<volume>`, controlled
by the Pod; when the Pod is gone, its claims are deleted (their pvc-protection finalizer
holds them until nothing uses them).

`create_claim` is the one way a controller makes a claim as the API server would (defaults,
DefaultStorageClass, the protection finalizer, validation): StatefulSet `volumeClaimTemplates`
(`<template>-<sts>-<ordinal>`) use it too.
"""

from __future__ import annotations

from collections.abc import Iterable

from podhost.api import errors, pvbinding
from podhost.api.types import Obj
from podhost.controllers import workload
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client
from podhost.store.watch import Event


def create_claim(store: Client, claim: Obj) -> Obj | None:
    """Create `claim` as a client's POST would; None when one of that name exists already.
    Raises errors.InvalidError when the claim is invalid (nothing is stored)."""
    claim["metadata"]["namespace"] = claim["metadata"].get("namespace") or "default"
    return workload.create(store, "persistentvolumeclaims", claim)


def _pod_keys(event: Event) -> Iterable[str]:
    m = event.object["metadata"]
    if not any(c.ephemeral for c in pvbinding.pod_claims(event.object)):
        return
    if event.type == "DELETED":
        yield f"gone:{m.get('namespace')}/{m.get('uid')}"
    elif not m.get("deletionTimestamp"):
        yield f"pod:{m.get('namespace')}/{m['name']}"


class EphemeralVolumeController(Controller):
    name = "ephemeral-volume-controller"

    def watches(self) -> list[Watch]:
        return [Watch("pods", _pod_keys)]

    def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition(":")
        ns, _, name = rest.partition("/")
        if kind == "gone":
            for pvc in self.store.list("persistentvolumeclaims", ns)[0]:
                if any(r.get("uid") == name and r.get("controller")
                       for r in pvc["metadata"].get("ownerReferences") or []):
                    workload.delete(self.store, "persistentvolumeclaims", pvc)
            return None
        try:
            pod = self.store.get("pods", ns, name)
        except errors.NotFoundError:
            return None
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if isinstance(volume.get("ephemeral"), dict):
                try:
                    create_claim(self.store, pvbinding.ephemeral_claim(pod, volume))
                except errors.InvalidError:
                    pass  # the API server validated the template with the Pod
        return None
