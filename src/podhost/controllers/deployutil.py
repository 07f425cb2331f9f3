"""Pure parts of the Deployment controller (pkg/controller/deployment/util): the
pod-template-hash, revisions, rolling update arithmetic (maxSurge/maxUnavailable fenceposts,
new ReplicaSet size, old ReplicaSets to scale down) and the status with its conditions."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from typing import Any

from podhost.api import meta
from podhost.api.types import Obj
from podhost.controllers import workload as w

HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
# deployment annotations not copied to its ReplicaSets (annotationsToSkip)
SKIP = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
        DESIRED, MAX, "deprecated.deployment.rollback.to"}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString's alphabet


def template_hash(template: Obj, collisions: int = 0) -> str:
    """ComputeHash: FNV-32a of the template (and collision count), safely encoded."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collisions:
        data += str(collisions)
    h = 0x811C9DC5
    for byte in data.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


def without_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH, None)
    return t


def same_template(a: Obj, b: Obj) -> bool:
    """EqualIgnoreHash."""
    return without_hash(a) == without_hash(b)


def revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """ResolveFenceposts: maxSurge rounds up, maxUnavailable down; never both 0."""
    spec = d.get("spec") or {}
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    desired = int(spec.get("replicas", 1))
    surge = resolve(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_unavailable(d: Obj) -> int:
    spec = d.get("spec") or {}
    if (spec.get("strategy") or {}).get("type") != "RollingUpdate" or not spec.get("replicas"):
        return 0
    return min(surge_and_unavailable(d)[1], int(spec["replicas"]))


def new_rs_replicas(d: Obj, all_rs: list[Obj], new: Obj) -> int:
    """NewRSNewReplicas for RollingUpdate."""
    desired = int((d.get("spec") or {}).get("replicas", 1))
    surge, _ = surge_and_unavailable(d)
    current = sum(replicas(rs) for rs in all_rs)
    if current >= desired + surge:
        return replicas(new)
    return replicas(new) + min(desired + surge - current, max(0, desired - replicas(new)))


def old_scale_downs(d: Obj, olds: list[Obj], new: Obj | None, all_rs: list[Obj]
                    ) -> dict[str, int]:
    """reconcileOldReplicaSets: the new sizes of old ReplicaSets (by name) this pass."""
    if not sum(replicas(rs) for rs in olds):
        return {}
    desired = int((d.get("spec") or {}).get("replicas", 1))
    min_available = desired - max_unavailable(d)
    new_unavailable = replicas(new) - _available(new) if new else 0
    budget = sum(replicas(rs) for rs in all_rs) - min_available - new_unavailable
    if budget <= 0:
        return {}
    sizes: dict[str, int] = {}
    oldest_first = sorted(olds, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
    for rs in oldest_first:  # cleanupUnhealthyReplicas
        unhealthy = replicas(rs) - _available(rs)
        if budget <= 0 or unhealthy <= 0:
            continue
        cut = min(budget, unhealthy)
        sizes[rs["metadata"]["name"]] = replicas(rs) - cut
        budget -= cut
    available = sum(_available(rs) for rs in all_rs)
    total_down = available - min_available
    for rs in oldest_first:  # scaleDownOldReplicaSetsForRollingUpdate
        size = sizes.get(rs["metadata"]["name"], replicas(rs))
        if total_down <= 0:
            break
        if size == 0:
            continue
        cut = min(size, total_down)
        sizes[rs["metadata"]["name"]] = size - cut
        total_down -= cut
    return sizes


def _available(rs: Obj | None) -> int:
    return int(((rs or {}).get("status") or {}).get("availableReplicas", 0))


def _status_sum(all_rs: list[Obj], key: str) -> int:
    return sum(int((rs.get("status") or {}).get(key, 0)) for rs in all_rs)


def complete(d: Obj, status: Obj) -> bool:
    desired = int((d.get("spec") or {}).get("replicas", 1))
    return bool(status.get("updatedReplicas", 0) == desired) and \
        status.get("replicas", 0) == desired and \
        status.get("availableReplicas", 0) == desired and \
        status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)


def _progressing(d: Obj, new: Obj | None, status: Obj, old: Obj, created: bool,
                 now: datetime) -> Obj | None:
    conds = old.get("conditions") or []
    spec = d.get("spec") or {}
    name = new["metadata"]["name"] if new else ""
    prior = next((c for c in conds if c.get("type") == "Progressing"), None)
    if spec.get("paused"):
        return w.condition("Progressing", "Unknown", "DeploymentPaused",
                           "Deployment is paused", conds, True)
    if prior and prior.get("reason") == "DeploymentPaused":
        return w.condition("Progressing", "Unknown", "DeploymentResumed",
                           "Deployment is resumed", conds, True)
    if complete(d, status):
        return w.condition("Progressing", "True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{name}" has successfully progressed.', conds, True)
    if created:
        return w.condition("Progressing", "True", "NewReplicaSetCreated",
                           f'Created new replica set "{name}"', conds, True)
    progress = any(status.get(k, 0) > old.get(k, 0) for k in
                   ("updatedReplicas", "readyReplicas", "availableReplicas")) or \
        status.get("replicas", 0) < old.get("replicas", 0)
    if progress or prior is None:
        reason = "ReplicaSetUpdated" if prior else "FoundNewReplicaSet"
        text = f'ReplicaSet "{name}" is progressing.' if prior else \
            f'Found new replica set "{name}"'
        cond = w.condition("Progressing", "True", reason, text, conds, True)
        cond["lastUpdateTime"] = meta.rfc3339(now)
        return cond
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None and prior.get("lastUpdateTime") and \
            (now - meta.parse_time(prior["lastUpdateTime"])).total_seconds() > deadline:
        return w.condition("Progressing", "False", "ProgressDeadlineExceeded",
                           f'ReplicaSet "{name}" has timed out progressing.', conds, True)
    return None


def deployment_status(d: Obj, all_rs: list[Obj], new: Obj | None, created: bool,
                      now: datetime) -> Obj:
    """calculateStatus plus the Available and Progressing conditions."""
    old = d.get("status") or {}
    desired = int((d.get("spec") or {}).get("replicas", 1))
    status: Obj = {"observedGeneration": d["metadata"].get("generation", 1),
                   "replicas": _status_sum(all_rs, "replicas"),
                   "updatedReplicas": int(((new or {}).get("status") or {}).get("replicas", 0)),
                   "readyReplicas": _status_sum(all_rs, "readyReplicas"),
                   "availableReplicas": _status_sum(all_rs, "availableReplicas")}
    status["unavailableReplicas"] = max(0, sum(replicas(rs) for rs in all_rs) -
                                        status["availableReplicas"])
    status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
    conds = list(old.get("conditions") or [])
    ok = status.get("availableReplicas", 0) >= desired - max_unavailable(d)
    available = w.condition("Available", "True", "MinimumReplicasAvailable",
                            "Deployment has minimum availability.", conds, True) if ok else \
        w.condition("Available", "False", "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.", conds, True)
    conds = w.set_condition(conds, available)
    progressing = _progressing(d, new, status, old, created, now)
    if progressing is not None:
        conds = w.set_condition(conds, progressing)
    failure = next((c for c in ((new or {}).get("status") or {}).get("conditions") or []
                    if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), None)
    conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
    if failure is not None:  # the new ReplicaSet cannot make its Pods: say why
        conds.append(w.condition("ReplicaFailure", "True", str(failure.get("reason", "")),
                                 str(failure.get("message", "")), old.get("conditions"), True))
    status["conditions"] = sorted(conds, key=lambda c: c["type"] != "Available")
    if old.get("collisionCount"):
        status["collisionCount"] = old["collisionCount"]
    return status
