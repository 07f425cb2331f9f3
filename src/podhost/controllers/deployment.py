"""The Deployment controller (pkg/controller/deployment): ReplicaSets named
`<deployment>-<pod-template-hash>`, one per template, with revisions; RollingUpdate
(maxSurge/maxUnavailable) and Recreate; scaling (proportional across active ReplicaSets);
pause; rollbacks (a template equal to an old ReplicaSet's revives it with the next revision);
old ReplicaSets beyond revisionHistoryLimit deleted; status with Available and Progressing."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from podhost.api import gc, meta
from podhost.api.types import Obj
from podhost.api.workloads import selector_matches
from podhost.controllers import deployutil as du
from podhost.controllers import events
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.store.watch import Event

KIND, API_VERSION = "Deployment", "apps/v1"


class DeploymentController(Controller):
    name = "deployment-controller"

    def watches(self) -> list[Watch]:
        return [Watch("deployments", w.own_key), Watch("replicasets", self._rs_keys),
                Watch("pods", self._pod_keys)]

    def _rs_keys(self, event: Event) -> Iterable[str]:
        ref = gc.controller_ref(event.object)
        ns = event.object["metadata"].get("namespace") or ""
        if ref is not None:
            if ref.get("kind") == KIND:
                yield f"{ns}/{ref.get('name')}"
            return
        labels = event.object["metadata"].get("labels") or {}
        for d in self.store.list("deployments", ns)[0]:
            if selector_matches((d.get("spec") or {}).get("selector"), labels):
                yield w.key_of(d)

    def _pod_keys(self, event: Event) -> Iterable[str]:
        """A deleted Pod of an old ReplicaSet: Recreate may go on."""
        ref = gc.controller_ref(event.object)
        if event.type != "DELETED" or ref is None or ref.get("kind") != "ReplicaSet":
            return
        ns = event.object["metadata"].get("namespace") or ""
        rs = w.get(self.store, "replicasets", f"{ns}/{ref.get('name')}")
        owner = gc.controller_ref(rs) if rs else None
        if owner is not None and owner.get("kind") == KIND:
            yield f"{ns}/{owner.get('name')}"

    def reconcile(self, key: str) -> float | None:
        d = w.get(self.store, "deployments", key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        all_rs = self.claim(d)
        template = (d.get("spec") or {}).get("template") or {}
        new = next((rs for rs in sorted(all_rs, key=lambda r: r["metadata"].get(
            "creationTimestamp", "")) if du.same_template(rs["spec"]["template"], template)),
            None)
        olds = [rs for rs in all_rs if rs is not new]
        created = False
        spec = d.get("spec") or {}
        if spec.get("paused") or self._scaling(d, all_rs):
            self.scale(d, new, olds)
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            new, created = self.recreate(d, new, olds)
        else:
            new, created = self.rolling(d, new, olds)
        all_rs = self.claim(d)
        new = next((rs for rs in all_rs if new and rs["metadata"]["uid"] ==
                    new["metadata"]["uid"]), None)
        status = du.deployment_status(d, all_rs, new, created, meta.now())
        if du.complete(d, status):
            self.cleanup(d, [rs for rs in all_rs if rs is not new])
        d = self._set_revision(d, new)
        w.write_status(self.store, "deployments", d, status)
        return None if du.complete(d, status) else 1.0

    def claim(self, d: Obj) -> list[Obj]:
        """The ReplicaSets it controls, adopting matching orphans."""
        selector = (d.get("spec") or {}).get("selector")
        uid = d["metadata"]["uid"]
        mine = []
        for rs in self.store.list("replicasets", d["metadata"]["namespace"])[0]:
            ref = gc.controller_ref(rs)
            if ref is not None and ref.get("uid") == uid:
                mine.append(rs)
            elif ref is None and not rs["metadata"].get("deletionTimestamp") and \
                    selector_matches(selector, rs["metadata"].get("labels")):
                new = copy.deepcopy(rs)
                new["metadata"].setdefault("ownerReferences", []).append(
                    w.controller_of(d, KIND, API_VERSION))
                mine.append(w.update(self.store, "replicasets", new))
        return mine

    def _scaling(self, d: Obj, all_rs: list[Obj]) -> bool:
        """isScalingEvent: an active ReplicaSet was sized for other replicas."""
        desired = str((d.get("spec") or {}).get("replicas", 1))
        return any((rs["metadata"].get("annotations") or {}).get(du.DESIRED) != desired
                   for rs in all_rs if du.replicas(rs) > 0)

    def _annotations(self, d: Obj, rs_annotations: dict[str, str], revision: int
                     ) -> dict[str, str]:
        spec = d.get("spec") or {}
        out = {k: v for k, v in rs_annotations.items()}
        out.update({k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                    if k not in du.SKIP})
        surge = du.surge_and_unavailable(d)[0] if (spec.get("strategy") or {}).get(
            "type") == "RollingUpdate" else 0
        out[du.DESIRED] = str(spec.get("replicas", 1))
        out[du.MAX] = str(int(spec.get("replicas", 1)) + surge)
        out[du.REVISION] = str(revision)
        return out

    def new_rs(self, d: Obj, new: Obj | None, olds: list[Obj], size: int
               ) -> tuple[Obj | None, bool]:
        """getNewReplicaSet: the current template's ReplicaSet with the next revision (made
        with `size` replicas when missing; size < 0: do not make it)."""
        next_rev = max((du.revision(rs) for rs in olds), default=0) + 1
        if new is not None:
            if du.revision(new) >= next_rev and \
                    (new["metadata"].get("annotations") or {}).get(du.DESIRED):
                return new, False
            rs = copy.deepcopy(new)
            annotations = rs["metadata"].get("annotations") or {}
            rev = max(du.revision(new), next_rev)
            if du.revision(new) and du.revision(new) < next_rev:
                history = [h for h in annotations.get(du.REVISION_HISTORY, "").split(",") if h]
                annotations[du.REVISION_HISTORY] = ",".join([*history, str(du.revision(new))])
            rs["metadata"]["annotations"] = self._annotations(d, annotations, rev)
            rs["spec"]["minReadySeconds"] = (d.get("spec") or {}).get("minReadySeconds", 0)
            return w.update(self.store, "replicasets", rs), False
        if size < 0:
            return None, False
        return self._create_rs(d, next_rev, size), True

    def _create_rs(self, d: Obj, revision: int, size: int) -> Obj | None:
        spec = d.get("spec") or {}
        collisions = int((d.get("status") or {}).get("collisionCount", 0))
        template = copy.deepcopy(spec.get("template") or {})
        h = du.template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[du.HASH] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[du.HASH] = h
        rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{d['metadata']['name']}-{h}",
            "labels": dict(template["metadata"]["labels"]),
            "annotations": self._annotations(d, {}, revision),
            "ownerReferences": [w.controller_of(d, KIND, API_VERSION)]},
            "spec": {"replicas": size, "minReadySeconds": spec.get("minReadySeconds", 0),
                     "selector": selector, "template": template}}
        rs["metadata"]["namespace"] = d["metadata"]["namespace"]
        created = w.create(self.store, "replicasets", rs)
        if created is not None and size:
            events.record(self.store, self.name, d, "ScalingReplicaSet",
                          f"Scaled up replica set {rs['metadata']['name']} from 0 to {size}")
        if created is None:  # a hash collision with another template: count it, try again
            status = copy.deepcopy(d.get("status") or {})
            status["collisionCount"] = collisions + 1
            w.write_status(self.store, "deployments", d, status)
        return created

    def _resize(self, d: Obj, rs: Obj, size: int) -> Obj:
        """scaleReplicaSet: the size and the desired/max annotations."""
        new = copy.deepcopy(rs)
        annotations = new["metadata"].get("annotations") or {}
        new["metadata"]["annotations"] = self._annotations(d, annotations, du.revision(rs))
        new["spec"]["replicas"] = size
        if new == rs:
            return rs
        before = du.replicas(rs)
        if size != before:
            events.record(self.store, self.name, d, "ScalingReplicaSet",
                          f"Scaled {'up' if size > before else 'down'} replica set "
                          f"{rs['metadata']['name']} from {before} to {size}")
        return w.update(self.store, "replicasets", new)

    def rolling(self, d: Obj, new: Obj | None, olds: list[Obj]) -> tuple[Obj | None, bool]:
        new, created = self.new_rs(d, new, olds, 0)
        if new is None:
            return None, False
        all_rs = [*olds, new]
        desired = int((d.get("spec") or {}).get("replicas", 1))
        if du.replicas(new) != desired:
            size = du.new_rs_replicas(d, all_rs, new)
            if size != du.replicas(new):
                return self._resize(d, new, size), created
        sizes = du.old_scale_downs(d, olds, new, all_rs)
        for rs in olds:
            if rs["metadata"]["name"] in sizes:
                self._resize(d, rs, sizes[rs["metadata"]["name"]])
        return new, created

    def recreate(self, d: Obj, new: Obj | None, olds: list[Obj]) -> tuple[Obj | None, bool]:
        new, _ = self.new_rs(d, new, olds, -1)
        if any(du.replicas(rs) for rs in olds):
            for rs in olds:
                self._resize(d, rs, 0)
            return new, False
        old_uids = {rs["metadata"]["uid"] for rs in olds}
        pods = self.store.list("pods", d["metadata"]["namespace"])[0]
        if any((gc.controller_ref(p) or {}).get("uid") in old_uids and not w.terminal(p)
               for p in pods):
            return new, False  # wait for the old Pods to be gone
        created = new is None
        desired = int((d.get("spec") or {}).get("replicas", 1))
        if new is None:
            new, _ = self.new_rs(d, None, olds, desired)
        elif du.replicas(new) != desired:
            new = self._resize(d, new, desired)
        return new, created

    def scale(self, d: Obj, new: Obj | None, olds: list[Obj]) -> None:
        """sync: resize without rolling out (paused, or replicas changed); proportional
        across the active ReplicaSets as upstream's scale()."""
        desired = int((d.get("spec") or {}).get("replicas", 1))
        all_rs = [rs for rs in [new, *olds] if rs is not None]
        active = [rs for rs in all_rs if du.replicas(rs) > 0]
        if not active and new is not None:
            active = [new]
        if len(active) <= 1:
            target = active[0] if active else None
            for rs in all_rs:
                self._resize(d, rs, desired if rs is target else du.replicas(rs))
            return
        surge = du.surge_and_unavailable(d)[0] if (d.get("spec") or {}).get(
            "strategy", {}).get("type") == "RollingUpdate" else 0
        current = sum(du.replicas(rs) for rs in active)
        to_add = desired + surge - current
        ordered = sorted(active, key=du.replicas, reverse=to_add > 0)
        left = to_add
        sizes = {}
        for rs in ordered:
            share = int(du.replicas(rs) * to_add / current) if current else 0
            share = max(share, -du.replicas(rs))
            sizes[rs["metadata"]["name"]] = du.replicas(rs) + share
            left -= share
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(0, sizes[first] + left)
        for rs in all_rs:
            self._resize(d, rs, sizes.get(rs["metadata"]["name"], du.replicas(rs)))

    def cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Delete old, empty ReplicaSets beyond revisionHistoryLimit, oldest revision first."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        empty = [rs for rs in olds if not du.replicas(rs) and not (rs.get("status") or {}).get(
            "replicas") and not rs["metadata"].get("deletionTimestamp")]
        for rs in sorted(empty, key=du.revision)[:max(0, len(empty) - int(limit))]:
            w.delete(self.store, "replicasets", rs)

    def _set_revision(self, d: Obj, new: Obj | None) -> Obj:
        if new is None:
            return d
        rev = str(du.revision(new))
        annotations = d["metadata"].get("annotations") or {}
        if annotations.get(du.REVISION) == rev:
            return d
        fresh = copy.deepcopy(d)
        fresh["metadata"]["annotations"] = {**annotations, du.REVISION: rev}
        return w.update(self.store, "deployments", fresh)
