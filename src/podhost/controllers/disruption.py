"""The disruption controller (pkg/controller/disruption): each PodDisruptionBudget's status
from the Pods it selects and the scale of their controllers: expectedPods, desiredHealthy,
currentHealthy, disruptionsAllowed, the Pods the eviction subresource has approved
(disruptedPods) and the DisruptionAllowed condition; SyncFailed when a Pod has no controller
whose scale it can read."""

from __future__ import annotations

from collections.abc import Iterable

from podhost.api import disruption, gc, meta
from podhost.api.types import Obj
from podhost.controllers import events
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.store.watch import Event

# the kinds whose scale a budget counts: a ReplicaSet of a Deployment counts as the Deployment
SCALED = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
          "ReplicationController": "replicationcontrollers", "Deployment": "deployments"}


class NoController(Exception):
    pass


class DisruptionController(Controller):
    name = "disruption-controller"

    def watches(self) -> list[Watch]:
        return [Watch("poddisruptionbudgets", w.own_key), Watch("pods", self._namespace_keys),
                *(Watch(r, self._namespace_keys) for r in
                  ("replicasets", "deployments", "statefulsets"))]

    def _namespace_keys(self, event: Event) -> Iterable[str]:
        """The budgets of the object's namespace (a Pod's, or a controller's whose scale
        changed)."""
        ns = event.object["metadata"].get("namespace") or ""
        return (w.key_of(pdb) for pdb in self.store.list("poddisruptionbudgets", ns)[0])

    def reconcile(self, key: str) -> float | None:
        pdb = w.get(self.store, "poddisruptionbudgets", key)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return None
        ns = pdb["metadata"].get("namespace") or ""
        pods = [p for p in self.store.list("pods", ns)[0] if disruption.selects(pdb, p)]
        now = meta.now()
        if not pods and (pdb.get("status") or {}).get("observedGeneration") != \
                pdb["metadata"].get("generation"):
            events.record(self.store, self.name, {**pdb, "kind": "PodDisruptionBudget"},
                          "NoPods", "No matching pods found")
        try:
            scale = self.expected_scale(pdb, pods)
        except NoController as e:
            events.record(self.store, self.name, {**pdb, "kind": "PodDisruptionBudget"},
                          "CalculateExpectedPodCountFailed",
                          f"Failed to calculate the number of expected pods: {e}", "Warning")
            w.write_status(self.store, "poddisruptionbudgets", pdb,
                           disruption.failed_status(pdb, str(e), now))
            return None
        status, recheck = disruption.status_of(pdb, pods, scale, now)
        w.write_status(self.store, "poddisruptionbudgets", pdb, status)
        return (recheck - now).total_seconds() if recheck is not None else None

    def expected_scale(self, pdb: Obj, pods: list[Obj]) -> int:
        """getExpectedScale: the summed replicas of the Pods' controllers (only when a
        percentage or maxUnavailable needs them)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is None and not isinstance(spec.get("minAvailable"), str):
            return 0
        scales: dict[str, int] = {}
        for pod in pods:
            ref = gc.controller_ref(pod)
            if ref is None:
                continue  # an unmanaged Pod: counted as a Pod, not as a scale
            found = self._controller(ref, pod["metadata"].get("namespace") or "")
            if found is None:
                raise NoController(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[found["metadata"]["uid"]] = int((found.get("spec") or {}).get("replicas", 1))
        return sum(scales.values())

    def _controller(self, ref: Obj, ns: str) -> Obj | None:
        """The controller of a Pod whose scale counts (a Deployment for its ReplicaSets)."""
        resource = SCALED.get(str(ref.get("kind")))
        if resource is None:
            return None
        found = w.get(self.store, resource, f"{ns}/{ref.get('name')}")
        if found is None or found["metadata"].get("uid") != ref.get("uid"):
            return None
        owner = gc.controller_ref(found)
        if owner is not None and owner.get("kind") == "Deployment":  # a ReplicaSet's
            return self._controller(owner, ns)
        return found
