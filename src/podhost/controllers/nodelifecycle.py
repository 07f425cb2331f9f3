"""The node lifecycle controller's part that applies to one node: the
`node.kubernetes.io/unschedulable:NoSchedule` taint follows `spec.unschedulable` (kubectl
cordon/uncordon), and the taint manager deletes the node's Pods that do not tolerate a
NoExecute taint (at once, or once their tolerationSeconds are over)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from podhost.api import errors, meta, taints
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers import events
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client
from podhost.store.watch import Event


class NodeLifecycleController(Controller):
    name = "node-controller"

    def __init__(self, store: ObjectStore | Client, node_name: str) -> None:
        super().__init__(store)
        self.node_name = node_name
        self.first_seen: dict[tuple[str, str, str], float] = {}  # NoExecute taints' start

    def watches(self) -> list[Watch]:
        return [Watch("nodes", self._node_key), Watch("pods", self._bound_pod_key)]

    def _node_key(self, event: Event) -> Iterable[str]:
        yield self.node_name

    def _bound_pod_key(self, event: Event) -> Iterable[str]:
        if (event.object.get("spec") or {}).get("nodeName"):
            yield self.node_name

    def reconcile(self, key: str) -> float | None:
        try:
            node = self.store.get("nodes", "", key)
        except errors.NotFoundError:
            return None
        wanted = taints.with_unschedulable_taint(node)
        if wanted is not None:
            new = copy.deepcopy(node)
            new.setdefault("spec", {})["taints"] = wanted
            if not wanted:
                new["spec"].pop("taints")
            node = self.store.update("nodes", new,
                                     expected_rv=node["metadata"].get("resourceVersion"))
        return self._evict(node)

    def _evict(self, node: Obj) -> float | None:
        """NoExecute: delete the Pods that may not stay; when to look again."""
        now = meta.now().timestamp()
        starts = {}
        for t in taints.node_taints(node):
            if t.get("effect") == "NoExecute":
                ident = (str(t.get("key")), str(t.get("value", "")), "NoExecute")
                added = t.get("timeAdded")
                starts[ident] = meta.parse_time(added).timestamp() if added else \
                    self.first_seen.get(ident, now)
        self.first_seen = starts
        if not starts:
            return None
        start = min(starts.values())
        again: float | None = None
        pods = self.store.list("pods", None)[0]
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") != node["metadata"]["name"] or \
                    pod["metadata"].get("deletionTimestamp"):
                continue
            delay = taints.no_execute_delay(node, pod)
            if delay is None:
                continue
            left = start + delay - now
            if left > 0:
                again = left if again is None else min(again, left)
                continue
            events.record(self.store, "taint-eviction-controller", {**pod, "kind": "Pod"},
                          "TaintManagerEviction",
                          f"Marking for deletion Pod {pod['metadata']['namespace']}/"
                          f"{pod['metadata']['name']}")
            try:
                self.store.delete_gracefully("pods", pod)
            except (errors.NotFoundError, errors.ConflictError):
                pass
        return again
