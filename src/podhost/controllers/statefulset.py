"""The StatefulSet controller (pkg/controller/statefulset): Pods `<set>-<ordinal>` with stable
hostnames (`spec.hostname`, `spec.subdomain` = serviceName) and the labels
`statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
`controller-revision-hash`; OrderedReady (one at a time, each after the previous is Running and
Ready; scale down from the highest ordinal, one at a time) or Parallel; failed Pods replaced;
RollingUpdate from the highest ordinal down to the partition, one Pod at a time, or OnDelete;
revisions as ControllerRevisions; status with current and update revisions."""

from __future__ import annotations

import copy

from podhost.api import meta
from podhost.api.types import Obj
from podhost.controllers import claims, events, revisions
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch

KIND, API_VERSION = "StatefulSet", "apps/v1"
POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"


def ordinal(sts: Obj, pod: Obj) -> int | None:
    prefix = sts["metadata"]["name"] + "-"
    name = pod["metadata"]["name"]
    tail = name[len(prefix):]
    return int(tail) if name.startswith(prefix) and tail.isdigit() else None


def running_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and w.ready(pod) and \
        not pod["metadata"].get("deletionTimestamp")


class StatefulSetController(Controller):
    name = "statefulset-controller"

    def watches(self) -> list[Watch]:
        return [Watch("statefulsets", w.own_key), Watch("pods", w.owner_keys(KIND))]

    def reconcile(self, key: str) -> float | None:
        sts = w.get(self.store, "statefulsets", key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        update, revs = revisions.current(self.store, sts, KIND)
        update_name = update["metadata"]["name"]
        current_name = (sts.get("status") or {}).get("currentRevision") or update_name
        current = next((r for r in revs if r["metadata"]["name"] == current_name), update)
        pods = {o: p for p in w.owned(self.store, "pods", sts)
                if (o := ordinal(sts, p)) is not None}
        self.sync(sts, pods, update, current)
        pods = {o: p for p in w.owned(self.store, "pods", sts)
                if (o := ordinal(sts, p)) is not None}
        status = self.status(sts, list(pods.values()), update_name, current_name)
        live = {p["metadata"].get("labels", {}).get(revisions.HASH_LABEL) for p in pods.values()}
        revisions.truncate(self.store, sts, revs, {n for n in live if n} |
                           {update_name, status["currentRevision"]})
        w.write_status(self.store, "statefulsets", sts, status)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        return w.available_in(list(pods.values()), min_ready, meta.now()) if min_ready \
            else None

    def sync(self, sts: Obj, pods: dict[int, Obj], update: Obj, current: Obj) -> None:
        spec = sts.get("spec") or {}
        start = int((spec.get("ordinals") or {}).get("start", 0))
        count = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        for i in range(start, start + count):
            pod = pods.get(i)
            if pod is not None and w.terminal(pod):  # a failed Pod is made again
                self._delete(sts, pod)
                if not parallel:
                    return
                continue
            if pod is None:
                pods[i] = self._create(sts, i, update, current)
                if not parallel:
                    return
                continue
            if not parallel and not running_ready(pod):
                return  # OrderedReady: wait for this one
        condemned = sorted((o for o in pods if not start <= o < start + count), reverse=True)
        for o in condemned:
            pod = pods[o]
            if not parallel and pod["metadata"].get("deletionTimestamp"):
                return
            self._delete(sts, pod)
            if not parallel:
                return
        self._roll(sts, pods, update, start, count)

    def _roll(self, sts: Obj, pods: dict[int, Obj], update: Obj, start: int,
              count: int) -> None:
        """RollingUpdate: the highest out-of-date Pod at or above the partition, one at a
        time, once every Pod is Running and Ready."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return
        if not all(running_ready(pods[i]) for i in range(start, start + count) if i in pods):
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        name = update["metadata"]["name"]
        for i in range(start + count - 1, max(start, partition) - 1, -1):
            pod = pods.get(i)
            if pod is not None and (pod["metadata"].get("labels") or {}).get(
                    revisions.HASH_LABEL) != name:
                self._delete(sts, pod)
                return

    def _delete(self, sts: Obj, pod: Obj) -> None:
        spec = sts.get("spec") or {}
        i = ordinal(sts, pod)
        start = int((spec.get("ordinals") or {}).get("start", 0))
        if i is not None and not start <= i < start + int(spec.get("replicas", 1)):
            claims.release_on_scale_down(self.store, sts, i, pod)
        w.delete(self.store, "pods", pod)
        events.record(self.store, self.name, sts, "SuccessfulDelete",
                      f"delete Pod {pod['metadata']['name']} in StatefulSet "
                      f"{sts['metadata']['name']} successful")

    def _create(self, sts: Obj, i: int, update: Obj, current: Obj) -> Obj:
        spec = sts.get("spec") or {}
        partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get(
            "partition", 0))
        rev = current if i < partition else update
        name = f"{sts['metadata']['name']}-{i}"
        template = revisions.template_of(rev) or copy.deepcopy(spec.get("template") or {})
        labels = {revisions.HASH_LABEL: rev["metadata"]["name"], POD_NAME: name,
                  POD_INDEX: str(i)}
        pod = w.new_pod(template, w.controller_of(sts, KIND, API_VERSION),
                        sts["metadata"]["namespace"], name=name, labels=labels)
        volumes = [v for v in pod["spec"].get("volumes") or []]
        for volume, claim in claims.for_ordinal(sts, i):
            claims.create(self.store, claim)
            volumes = [v for v in volumes if v.get("name") != volume] + [{
                "name": volume, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}]
        if volumes:
            pod["spec"]["volumes"] = volumes
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        created = w.create(self.store, "pods", pod)
        if created is not None:
            events.record(self.store, self.name, sts, "SuccessfulCreate",
                          f"create Pod {name} in StatefulSet {sts['metadata']['name']} "
                          "successful")
        return created or pod

    def status(self, sts: Obj, pods: list[Obj], update: str, current: str) -> Obj:
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = meta.now()
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]

        def at(rev: str) -> int:
            return sum(1 for p in live
                       if (p["metadata"].get("labels") or {}).get(revisions.HASH_LABEL) == rev)

        status: Obj = {"observedGeneration": sts["metadata"].get("generation", 1),
                       "replicas": len(live),
                       "readyReplicas": sum(1 for p in live if w.ready(p)),
                       "currentReplicas": at(current), "updatedReplicas": at(update),
                       "availableReplicas": sum(1 for p in live if w.available(p, min_ready,
                                                                              now)),
                       "currentRevision": current, "updateRevision": update,
                       "collisionCount": int((sts.get("status") or {}).get("collisionCount", 0))}
        if status["updatedReplicas"] == int(spec.get("replicas", 1)) == status["readyReplicas"]:
            status["currentRevision"], status["currentReplicas"] = update, status[
                "updatedReplicas"]
        return {k: v for k, v in status.items() if v or k in (
            "replicas", "availableReplicas", "collisionCount", "observedGeneration")}
