"""The DaemonSet controller (pkg/controller/daemon): one Pod on each node that the template's
nodeSelector, required node affinity and tolerations (against the node's labels and taints)
admit — podhost has one node; the Pod is pinned to it by node affinity on `metadata.name` and
gets the DaemonSet tolerations; failed Pods are replaced, extra ones deleted; RollingUpdate
(maxSurge 0: delete then make; maxSurge > 0: make the new Pod first) or OnDelete; revisions as
ControllerRevisions; status counts per node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from podhost.api import errors, meta
from podhost.api.types import Obj
from podhost.controllers import events, revisions
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.store.watch import Event

KIND, API_VERSION = "DaemonSet", "apps/v1"
GENERATION = "pod-template-generation"
TOLERATIONS = [("node.kubernetes.io/not-ready", "NoExecute"),
               ("node.kubernetes.io/unreachable", "NoExecute"),
               ("node.kubernetes.io/disk-pressure", "NoSchedule"),
               ("node.kubernetes.io/memory-pressure", "NoSchedule"),
               ("node.kubernetes.io/pid-pressure", "NoSchedule"),
               ("node.kubernetes.io/unschedulable", "NoSchedule")]


def _expression(req: Obj, values: dict[str, str]) -> bool:
    key, op, wanted = req.get("key"), req.get("operator"), req.get("values") or []
    have = values.get(str(key))
    if op == "In":
        return have in wanted
    if op == "NotIn":
        return have not in wanted
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and wanted:
        try:
            return int(have) > int(wanted[0]) if op == "Gt" else int(have) < int(wanted[0])
        except ValueError:
            return False
    return False


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def should_run(template: Obj, node: Obj) -> bool:
    """nodeSelector, required node affinity and NoSchedule/NoExecute taints."""
    spec = template.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    affinity = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = affinity.get("nodeSelectorTerms") or []
    fields = {"metadata.name": node["metadata"]["name"]}
    if terms and not any(all(_expression(r, labels) for r in t.get("matchExpressions") or [])
                         and all(_expression(r, fields) for r in t.get("matchFields") or [])
                         for t in terms):
        return False
    tolerations = [*(spec.get("tolerations") or []), *daemon_tolerations()]
    return all(_tolerates(tolerations, taint) for taint in (node.get("spec") or {}).get(
        "taints") or [] if taint.get("effect") in ("NoSchedule", "NoExecute"))


def daemon_tolerations() -> list[Obj]:
    return [{"key": k, "operator": "Exists", "effect": e} for k, e in TOLERATIONS]


def pin(pod: Obj, node: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity and the DaemonSet tolerations."""
    spec = pod["spec"]
    affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    have = {(t.get("key"), t.get("effect")) for t in spec.get("tolerations") or []}
    spec["tolerations"] = [*(spec.get("tolerations") or []),
                           *(t for t in daemon_tolerations()
                             if (t["key"], t["effect"]) not in have)]


class DaemonSetController(Controller):
    name = "daemonset-controller"

    def watches(self) -> list[Watch]:
        return [Watch("daemonsets", w.own_key), Watch("pods", w.owner_keys(KIND)),
                Watch("nodes", self._all)]

    def _all(self, event: Event) -> Iterable[str]:
        return [w.key_of(ds) for ds in self.store.list("daemonsets")[0]]

    def reconcile(self, key: str) -> float | None:
        ds = w.get(self.store, "daemonsets", key)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        rev, revs = revisions.current(self.store, ds, KIND)
        h = rev["metadata"]["labels"][revisions.HASH_LABEL]
        nodes = self.store.list("nodes")[0]
        pods = w.owned(self.store, "pods", ds)
        template = (ds.get("spec") or {}).get("template") or {}
        wanted = [n for n in nodes if should_run(template, n)]
        for node in nodes:
            self.sync_node(ds, node, node in wanted, _on(pods, node), h)
        pods = w.owned(self.store, "pods", ds)
        live = {p["metadata"].get("labels", {}).get(revisions.HASH_LABEL) for p in pods}
        revisions.truncate(self.store, ds, revs, {rev["metadata"]["name"]} |
                           {r["metadata"]["name"] for r in revs
                            if r["metadata"]["labels"].get(revisions.HASH_LABEL) in live})
        w.write_status(self.store, "daemonsets", ds, self.status(ds, nodes, wanted, pods, h))
        return None

    def sync_node(self, ds: Obj, node: Obj, wanted: bool, pods: list[Obj], h: str) -> None:
        for pod in pods:
            if w.terminal(pod):
                w.delete(self.store, "pods", pod)
        live = [p for p in pods if w.active(p)]
        if not wanted:
            for pod in live:
                w.delete(self.store, "pods", pod)
            return
        new = [p for p in live if _hash(p) == h]
        old = [p for p in live if _hash(p) != h]
        for pod in sorted(new, key=lambda p: p["metadata"]["creationTimestamp"])[1:]:
            w.delete(self.store, "pods", pod)  # one per node
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        rolling = strategy.get("type") == "RollingUpdate"
        surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", 0) not in (0, "0%", None)
        if old and rolling and (not surge or any(w.ready(p) for p in new)):
            for pod in old:
                w.delete(self.store, "pods", pod)
            old = []
        terminating = any(p["metadata"].get("deletionTimestamp") and not w.terminal(p)
                          for p in pods)
        if not new and (not old or surge) and not (terminating and not surge):
            self._create(ds, node["metadata"]["name"], h)

    def _create(self, ds: Obj, node: str, h: str) -> None:
        labels = {revisions.HASH_LABEL: h,
                  GENERATION: str(ds["metadata"].get("generation", 1))}
        pod = w.new_pod((ds.get("spec") or {}).get("template") or {},
                        w.controller_of(ds, KIND, API_VERSION), ds["metadata"]["namespace"],
                        generate_name=f"{ds['metadata']['name']}-", labels=labels)
        pin(pod, node)
        try:
            created = w.create(self.store, "pods", pod)
        except errors.ForbiddenError as e:  # PodSecurity's enforce level
            events.record(self.store, self.name, ds, "FailedCreate", f"Error creating: {e.message}",
                          "Warning")
            return
        if created is not None:
            events.record(self.store, self.name, ds, "SuccessfulCreate",
                          f"Created pod: {created['metadata']['name']}")

    def status(self, ds: Obj, nodes: list[Obj], wanted: list[Obj], pods: list[Obj],
               h: str) -> Obj:
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = meta.now()
        counts = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0,
                  "updatedNumberScheduled": 0, "numberAvailable": 0}
        for node in nodes:
            live = [p for p in _on(pods, node) if w.active(p)]
            if not live:
                continue
            if node not in wanted:
                counts["numberMisscheduled"] += 1
                continue
            counts["currentNumberScheduled"] += 1
            counts["numberReady"] += any(w.ready(p) for p in live)
            counts["updatedNumberScheduled"] += any(_hash(p) == h for p in live)
            counts["numberAvailable"] += any(w.available(p, min_ready, now) for p in live)
        status: Obj = {"desiredNumberScheduled": len(wanted), **counts,
                       "observedGeneration": ds["metadata"].get("generation", 1)}
        unavailable = len(wanted) - counts["numberAvailable"]
        if unavailable:
            status["numberUnavailable"] = unavailable
        return {k: v for k, v in status.items() if v or k in (
            "desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
            "numberReady", "observedGeneration")}


def _hash(pod: Obj) -> Any:
    return (pod["metadata"].get("labels") or {}).get(revisions.HASH_LABEL)


def _on(pods: list[Obj], node: Obj) -> list[Obj]:
    """The DaemonSet's Pods meant for `node` (bound to it, or pinned by affinity)."""
    name = node["metadata"]["name"]
    out = []
    for pod in pods:
        bound = (pod.get("spec") or {}).get("nodeName")
        if bound == name or (not bound and should_run(
                {"spec": {"affinity": (pod.get("spec") or {}).get("affinity")}}, node)):
            out.append(pod)
    return out
