"""The ReplicaSet controller (pkg/controller/replicaset): keep `spec.replicas` active Pods that
match the selector, adopting orphans and releasing Pods whose labels no longer match; make the
missing ones from the template (at most BURST per pass, in slow-start batches) and delete the
extra ones in upstream's rank (unscheduled, pending, not ready, recently ready, restarted,
newest first); then write the status (replicas, fullyLabeled, ready, available)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime

from podhost.api import errors, gc, meta
from podhost.api.types import Obj
from podhost.api.workloads import selector_matches
from podhost.controllers import events
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.store.watch import Event

BURST = 500
FAILED_CREATE_RETRY = 5.0
PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple[int, int, int, float, int, float]:
    """ActivePodsWithRanks' order: the Pods to delete first sort first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    since = w.ready_since(pod)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp")
    return (1 if spec.get("nodeName") else 0, PHASE_RANK.get(status.get("phase", ""), 0),
            1 if since else 0, -(since.timestamp() if since else 0.0), -restarts,
            -(meta.parse_time(created).timestamp() if created else 0.0))


def pods_status(rs: Obj, pods: list[Obj], now: datetime) -> Obj:
    """calculateStatus over the active Pods the ReplicaSet owns."""
    spec = rs.get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status: Obj = {"replicas": len(pods)}
    counts = {"fullyLabeledReplicas": sum(1 for p in pods if all(
        (p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())),
        "readyReplicas": sum(1 for p in pods if w.ready(p)),
        "availableReplicas": sum(1 for p in pods if w.available(p, min_ready, now))}
    status.update({k: v for k, v in counts.items() if v})
    status["observedGeneration"] = rs["metadata"].get("generation", 1)
    conditions = [c for c in (rs.get("status") or {}).get("conditions") or []
                  if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    return status


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    resource, kind, api_version = "replicasets", "ReplicaSet", "apps/v1"

    def watches(self) -> list[Watch]:
        return [Watch(self.resource, w.own_key), Watch("pods", self._pod_keys)]

    def selector_of(self, rs: Obj) -> object:
        """The LabelSelector of the Pods (a ReplicationController's is a map)."""
        return (rs.get("spec") or {}).get("selector")

    def _pod_keys(self, event: Event) -> Iterable[str]:
        ref = gc.controller_ref(event.object)
        ns = event.object["metadata"].get("namespace") or ""
        if ref is not None:
            if ref.get("kind") == self.kind:
                yield f"{ns}/{ref.get('name')}"
            return
        if event.type == "DELETED":
            return
        labels = event.object["metadata"].get("labels") or {}
        for rs in self.store.list(self.resource, ns)[0]:  # an orphan: who may adopt it
            if selector_matches(self.selector_of(rs), labels):
                yield w.key_of(rs)

    def reconcile(self, key: str) -> float | None:
        rs = w.get(self.store, self.resource, key)
        if rs is None:
            return None
        pods = self.claim(rs)
        live = [p for p in pods if w.active(p)]
        failure = None
        if not rs["metadata"].get("deletionTimestamp"):
            live, failure = self.manage(rs, live)
        now = meta.now()
        status = pods_status(rs, live, now)
        if failure is not None:  # ReplicaFailure, as upstream reports a refused create
            conds = status.get("conditions") or []
            status["conditions"] = w.set_condition(conds, w.condition(
                "ReplicaFailure", "True", "FailedCreate", failure, conds))
        w.write_status(self.store, self.resource, rs, status)
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if failure is not None:
            return FAILED_CREATE_RETRY
        return w.available_in(live, min_ready, now) if min_ready else None

    def claim(self, rs: Obj) -> list[Obj]:
        """ClaimPods: owned Pods that match; adopt matching orphans, release the others."""
        selector = self.selector_of(rs)
        uid = rs["metadata"]["uid"]
        mine: list[Obj] = []
        for pod in self.store.list("pods", rs["metadata"]["namespace"])[0]:
            ref = gc.controller_ref(pod)
            matches = selector_matches(selector, pod["metadata"].get("labels"))
            if ref is not None and ref.get("uid") == uid:
                if matches or pod["metadata"].get("deletionTimestamp"):
                    mine.append(pod)
                else:
                    self._set_owner(pod, None, uid)
            elif ref is None and matches and w.active(pod) and \
                    not rs["metadata"].get("deletionTimestamp"):
                mine.append(self._set_owner(pod, w.controller_of(rs, self.kind,
                                                                 self.api_version), uid))
        return mine

    def _set_owner(self, pod: Obj, ref: Obj | None, uid: str) -> Obj:
        new = copy.deepcopy(pod)
        refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        new["metadata"]["ownerReferences"] = [*refs, *([ref] if ref else [])]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        return w.update(self.store, "pods", new)

    def manage(self, rs: Obj, live: list[Obj]) -> tuple[list[Obj], str | None]:
        """manageReplicas: create or delete Pods; returns the active Pods after, and why a
        create was refused (the API's message), if one was."""
        spec = rs.get("spec") or {}
        diff = len(live) - int(spec.get("replicas", 1))
        if diff < 0:
            ref = w.controller_of(rs, self.kind, self.api_version)
            ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
            want, batch = min(-diff, BURST), 1
            while want > 0:  # slowStartBatch: 1, 2, 4, ... at a time
                for _ in range(min(batch, want)):
                    pod = w.new_pod(spec.get("template") or {}, ref, ns,
                                    generate_name=f"{name}-")
                    try:
                        created = w.create(self.store, "pods", pod)
                    except errors.ApiError as e:
                        events.record(self.store, self.name, rs, "FailedCreate",
                                      f"Error creating: {e.message}", "Warning")
                        return live, e.message
                    if created is not None:
                        live.append(created)
                        events.record(self.store, self.name, rs, "SuccessfulCreate",
                                      f"Created pod: {created['metadata']['name']}")
                want, batch = want - min(batch, want), batch * 2
        elif diff > 0:
            doomed = sorted(live, key=deletion_rank)[:diff]
            for pod in doomed:
                w.delete(self.store, "pods", pod)
                events.record(self.store, self.name, rs, "SuccessfulDelete",
                              f"Deleted pod: {pod['metadata']['name']}")
            gone = {p["metadata"]["uid"] for p in doomed}
            live = [p for p in live if p["metadata"]["uid"] not in gone]
        return live, None
