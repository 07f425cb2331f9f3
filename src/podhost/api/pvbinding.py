"""How claims meet volumes, as upstream decides it (pure): the PV controller's volume matching
(pkg/controller/volume/persistentvolume/index.go: pre-bound first, then class, volume mode,
access modes, selector and the smallest capacity that fits), the claims a Pod uses (with its
generic ephemeral volumes, `<pod>-<volume>`), and the scheduler's verdicts on them
(VolumeBinding and VolumeRestrictions plugins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podhost.api import volumeclaims
from podhost.api.types import Obj

PREEMPTION_NOT_HELPFUL = ("preemption: 0/1 nodes are available: 1 Preemption is not helpful "
                          "for scheduling.")
NO_VICTIMS = ("preemption: 0/1 nodes are available: 1 No preemption victims found for "
              "incoming pod.")
RWOP_CONFLICT = ("0/1 nodes are available: 1 node has pod using PersistentVolumeClaim with the "
                 "same name and ReadWriteOncePod access mode. " + NO_VICTIMS)


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def claim_class(pvc: Obj) -> str:
    return str(_dict(pvc.get("spec")).get("storageClassName") or "")


def access_modes(obj: Obj) -> list[str]:
    return list(_dict(obj.get("spec")).get("accessModes") or [])


def claim_ref_matches(pv: Obj, pvc: Obj) -> bool:
    """Is the PV's claimRef this claim (by namespace and name, and uid when it has one)?"""
    ref = _dict(_dict(pv.get("spec")).get("claimRef"))
    m = _dict(pvc.get("metadata"))
    if not ref or ref.get("name") != m.get("name") or ref.get("namespace") != m.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == m.get("uid")


def _fits(pv: Obj, pvc: Obj) -> bool:
    spec, claim = _dict(pv.get("spec")), _dict(pvc.get("spec"))
    if str(spec.get("storageClassName") or "") != claim_class(pvc):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (claim.get("volumeMode") or "Filesystem"):
        return False
    if not set(access_modes(pvc)) <= set(spec.get("accessModes") or []):
        return False
    if volumeclaims.capacity(pv) < volumeclaims.storage_request(pvc):
        return False
    selector = claim.get("selector")
    if selector:
        labels = _dict(_dict(pv.get("metadata")).get("labels"))
        return selector_matches(_dict(selector), labels)
    return True


def selector_matches(selector: Obj, labels: dict[str, Any]) -> bool:
    """metav1.LabelSelector against labels (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in _dict(selector.get("matchLabels")).items()):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def find_volume(pvc: Obj, volumes: list[Obj]) -> Obj | None:
    """findBestMatchForClaim: a PV pre-bound to the claim wins; otherwise the smallest free PV
    that fits (free: no claimRef, Available, not being deleted)."""
    best: Obj | None = None
    for pv in volumes:
        if _dict(pv.get("metadata")).get("deletionTimestamp"):
            continue
        if claim_ref_matches(pv, pvc):
            if _fits_prebound(pv, pvc):
                return pv
            continue
        if _dict(pv.get("spec")).get("claimRef"):
            continue
        if _dict(pv.get("status")).get("phase") in ("Released", "Failed"):
            continue
        if _fits(pv, pvc) and (best is None or
                               volumeclaims.capacity(pv) < volumeclaims.capacity(best)):
            best = pv
    return best


def _fits_prebound(pv: Obj, pvc: Obj) -> bool:
    """A pre-bound PV skips class and selector but must still hold the claim."""
    return (set(access_modes(pvc)) <= set(_dict(pv.get("spec")).get("accessModes") or []) and
            volumeclaims.capacity(pv) >= volumeclaims.storage_request(pvc))


# -- the claims of a Pod --------------------------------------------------------------------------
@dataclass(frozen=True)
class PodClaim:
    volume: str  # the Pod's volume name
    claim: str  # the claim's name
    ephemeral: bool  # a generic ephemeral volume: the claim `<pod>-<volume>`, owned by the Pod
    read_only: bool  # persistentVolumeClaim.readOnly


def pod_claims(pod: Obj) -> list[PodClaim]:
    name = _dict(pod.get("metadata")).get("name") or ""
    out = []
    for v in _dict(pod.get("spec")).get("volumes") or []:
        if isinstance(v.get("persistentVolumeClaim"), dict):
            src = v["persistentVolumeClaim"]
            out.append(PodClaim(v["name"], str(src.get("claimName") or ""), False,
                                bool(src.get("readOnly"))))
        elif isinstance(v.get("ephemeral"), dict):
            out.append(PodClaim(v["name"], f"{name}-{v['name']}", True, False))
    return out


def ephemeral_claim(pod: Obj, volume: Obj) -> Obj:
    """The claim the ephemeral volume controller makes for `volume` of `pod`."""
    m = _dict(pod.get("metadata"))
    template = _dict(_dict(volume.get("ephemeral")).get("volumeClaimTemplate"))
    tm = _dict(template.get("metadata"))
    meta: Obj = {"name": f"{m.get('name')}-{volume['name']}", "namespace": m.get("namespace"),
                 "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": m.get("name"),
                                      "uid": m.get("uid"), "controller": True,
                                      "blockOwnerDeletion": True}]}
    for key in ("labels", "annotations"):
        if tm.get(key):
            meta[key] = dict(tm[key])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": dict(_dict(template.get("spec")))}


def owned_by(pvc: Obj, pod: Obj) -> bool:
    uid = _dict(pod.get("metadata")).get("uid")
    return any(r.get("uid") == uid and r.get("controller")
               for r in _dict(pvc.get("metadata")).get("ownerReferences") or [])


def is_active(pod: Obj) -> bool:
    """A Pod that holds its claims: not finished (terminating Pods still hold them)."""
    return _dict(pod.get("status")).get("phase") not in ("Succeeded", "Failed")


def uses_claim(pod: Obj, namespace: str, claim: str) -> bool:
    if _dict(pod.get("metadata")).get("namespace") != namespace:
        return False
    return any(c.claim == claim for c in pod_claims(pod))


def unschedulable(reason: str) -> str:
    return f"0/1 nodes are available: {reason}. {PREEMPTION_NOT_HELPFUL}"


def rwop_conflict(pod: Obj, claims: dict[str, Obj], others: list[Obj]) -> bool:
    """VolumeRestrictions: a ReadWriteOncePod claim of the Pod already used by another Pod."""
    ns = _dict(pod.get("metadata")).get("namespace") or ""
    for c in pod_claims(pod):
        pvc = claims.get(c.claim)
        if pvc is None or "ReadWriteOncePod" not in access_modes(pvc):
            continue
        if any(uses_claim(o, ns, c.claim) and is_active(o) for o in others):
            return True
    return False

