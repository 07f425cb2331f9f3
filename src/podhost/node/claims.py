"""The scheduler's volume plugins for the one node (VolumeBinding, VolumeRestrictions): may a
Pod that uses claims be bound to this node now?

* a missing claim, one being deleted, an ephemeral claim not made (or not owned) yet, an unbound
  claim of an Immediate class, or a ReadWriteOncePod claim in use by another Pod: the Pod stays
  Pending, unschedulable, with the scheduler's message;
* an unbound claim of a WaitForFirstConsumer class: the claim is given the
  `volume.kubernetes.io/selected-node` annotation (the PV controller then binds or provisions)
  and the Pod waits, Pending, until every claim is bound;
* otherwise the Pod is bound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from podhost.api import errors, meta, pvbinding, volumeclaims
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj

BIND, WAIT, UNSCHEDULABLE = "bind", "wait", "unschedulable"
FAST_RETRY, FAST_FOR = 0.05, 10.0  # seconds


@dataclass(frozen=True)
class Verdict:
    action: str
    message: str = ""
    retry: float = 1.0  # seconds before the next look


def retry_for(pod: Obj) -> float:
    """A Pod waits for its claims with short looks at first (a claim is usually provisioned
    and bound within tens of milliseconds), then once a second."""
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return FAST_RETRY
    age = (meta.now() - meta.parse_time(created)).total_seconds()
    return FAST_RETRY if age < FAST_FOR else 1.0


def _unschedulable(reason: str) -> Verdict:
    return Verdict(UNSCHEDULABLE, pvbinding.unschedulable(reason))


def _claim_problem(store: ObjectStore, pod: Obj, claim: pvbinding.PodClaim,
                   found: dict[str, Obj]) -> Verdict | None:
    ns = pod["metadata"].get("namespace") or "default"
    try:
        pvc = store.get("persistentvolumeclaims", ns, claim.claim)
    except errors.NotFoundError:
        if claim.ephemeral:
            return _unschedulable("waiting for ephemeral volume controller to create the "
                                  f'persistentvolumeclaim "{claim.claim}"')
        return _unschedulable(f'persistentvolumeclaim "{claim.claim}" not found')
    if claim.ephemeral and not pvbinding.owned_by(pvc, pod):
        return _unschedulable(f"PVC {ns}/{claim.claim} was not created for pod "
                              f"{ns}/{pod['metadata']['name']} (pod is not owner)")
    if pvc["metadata"].get("deletionTimestamp"):
        return _unschedulable(f'persistentvolumeclaim "{claim.claim}" is being deleted')
    found[claim.claim] = pvc
    return None


def _class_of(store: ObjectStore, pvc: Obj) -> Obj | None:
    name = pvbinding.claim_class(pvc)
    if not name:
        return None
    try:
        return store.get("storageclasses", "", name)
    except errors.NotFoundError:
        return None


def _select_node(store: ObjectStore, pvc: Obj, node_name: str) -> None:
    annotations = pvc["metadata"].setdefault("annotations", {})
    if annotations.get(volumeclaims.SELECTED_NODE) == node_name:
        return
    annotations[volumeclaims.SELECTED_NODE] = node_name
    with contextlib.suppress(errors.ConflictError, errors.NotFoundError):
        store.update("persistentvolumeclaims", pvc)


def pinned_elsewhere(pod: Obj, node_name: str) -> bool:
    """The Pod's required node affinity names nodes by `metadata.name` (as a DaemonSet pins
    its Pods) and not this one: the scheduler would not place it here."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    names = [[r for r in t.get("matchFields") or [] if r.get("key") == "metadata.name"]
             for t in terms]
    return bool(terms) and all(reqs for reqs in names) and not any(
        all((r.get("operator") == "In") == (node_name in (r.get("values") or []))
            for r in reqs) for reqs in names)


def verdict(store: ObjectStore, pod: Obj, others: list[Obj], node_name: str) -> Verdict:
    """What to do with a Pod that is not bound yet (`others`: the Pods on the node)."""
    if pinned_elsewhere(pod, node_name):
        return _unschedulable("1 node(s) didn't match Pod's node affinity/selector")
    claims = pvbinding.pod_claims(pod)
    if not claims:
        return Verdict(BIND)
    found: dict[str, Obj] = {}
    for claim in claims:
        problem = _claim_problem(store, pod, claim, found)
        if problem is not None:
            return problem
    if pvbinding.rwop_conflict(pod, found, others):
        return Verdict(UNSCHEDULABLE, pvbinding.RWOP_CONFLICT)
    waiting = False
    for pvc in found.values():
        if (pvc.get("status") or {}).get("phase") == "Bound":
            continue
        sc = _class_of(store, pvc)
        if sc is None or sc.get("volumeBindingMode") != "WaitForFirstConsumer":
            if not (pvc.get("spec") or {}).get("volumeName"):
                return _unschedulable("pod has unbound immediate PersistentVolumeClaims")
        else:
            _select_node(store, pvc, node_name)
        waiting = True
    return Verdict(WAIT, retry=retry_for(pod)) if waiting else Verdict(BIND)
