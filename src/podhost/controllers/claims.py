"""A StatefulSet's volumeClaimTemplates: one PersistentVolumeClaim per template and ordinal,
`<template>-<set>-<ordinal>`, labelled like the template plus the set's matchLabels; owned by
the StatefulSet when `persistentVolumeClaimRetentionPolicy.whenDeleted` is Delete, and by the
Pod being scaled away when `whenScaled` is Delete (the garbage collector then removes it);
kept otherwise (Retain, the default)."""

from __future__ import annotations

import contextlib
import copy

from podhost.api import errors
from podhost.api.types import Obj
from podhost.controllers import workload as w
from podhost.registry.client import Client


def _policy(sts: Obj, key: str) -> str:
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get(key, "Retain"))


def for_ordinal(sts: Obj, i: int) -> list[tuple[str, Obj]]:
    """(volume name, the claim as it would be created) for each template."""
    spec = sts.get("spec") or {}
    out = []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    for template in spec.get("volumeClaimTemplates") or []:
        tm = template.get("metadata") or {}
        volume = tm.get("name", "")
        claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
            "name": f"{volume}-{sts['metadata']['name']}-{i}",
            "labels": {**(tm.get("labels") or {}), **selector}},
            "spec": copy.deepcopy(template.get("spec") or {})}
        if tm.get("annotations"):
            claim["metadata"]["annotations"] = dict(tm["annotations"])
        if _policy(sts, "whenDeleted") == "Delete":
            claim["metadata"]["ownerReferences"] = [w.controller_of(sts, "StatefulSet",
                                                                    "apps/v1")]
        claim["metadata"]["namespace"] = sts["metadata"]["namespace"]
        out.append((volume, claim))
    return out


def create(store: Client, claim: Obj) -> None:
    """Create the claim unless it exists, through the admission a client's create gets
    (DefaultStorageClass, the protection finalizer)."""
    try:
        store.get("persistentvolumeclaims", claim["metadata"]["namespace"],
                  claim["metadata"]["name"])
        return
    except errors.NotFoundError:
        pass
    w.create(store, "persistentvolumeclaims", claim)


def release_on_scale_down(store: Client, sts: Obj, i: int, pod: Obj) -> None:
    """whenScaled: Delete — the claims of a condemned ordinal are owned by its Pod."""
    if _policy(sts, "whenScaled") != "Delete":
        return
    ref = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
           "uid": pod["metadata"]["uid"]}
    for _, wanted in for_ordinal(sts, i):
        with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
            claim = store.get("persistentvolumeclaims", sts["metadata"]["namespace"],
                              wanted["metadata"]["name"])
            refs = claim["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == ref["uid"] for r in refs):
                continue
            claim["metadata"]["ownerReferences"] = [*refs, ref]
            w.update(store, "persistentvolumeclaims", claim)
