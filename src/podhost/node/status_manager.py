"""Every write the node makes to a Pod in the store, as kubelet's status manager owns them:
status, binding (podhost is its own scheduler), unschedulable, and removal at the end.

Each write re-reads the stored Pod and acts only if it is still the same Pod (same uid), so a
Pod deleted and made again under the same name is never touched by the old one's worker.
"""

from __future__ import annotations

import contextlib

from podhost.api import errors, meta
from podhost.api.storage import ApiClient
from podhost.api.types import Obj
from podhost.node.events import Recorder
from podhost.volumes import eviction


class StatusManager:
    def __init__(self, store: ApiClient, recorder: Recorder, node_name: str) -> None:
        self.store, self.recorder, self.node_name = store, recorder, node_name
        self.finished: set[str] = set()  # Pods done on the node, kept by their finalizers

    def same_pod(self, pod: Obj) -> Obj:
        """The stored Pod, if it is still this one (not a new Pod of the same name)."""
        m = pod["metadata"]
        current = self.store.get("pods", m["namespace"], m["name"])
        if current["metadata"].get("uid") != m.get("uid"):
            raise errors.NotFoundError.of("pods", m["name"])
        return current

    def bind(self, pod: Obj) -> Obj:
        """Act as the scheduler: assign the Pod to this node."""
        current = self.same_pod(pod)
        current["spec"]["nodeName"] = self.node_name
        current.setdefault("status", {})["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": meta.rfc3339()}]
        updated = self.store.update_status("pods", current, subresource="binding")
        m = updated["metadata"]
        self.recorder.event(updated, "Normal", "Scheduled",
                            f"Successfully assigned {m['namespace']}/{m['name']} to "
                            f"{self.node_name}", component="default-scheduler")
        return updated

    def mark_unschedulable(self, pod: Obj, message: str) -> Obj:
        """Leave the Pod Pending with PodScheduled False, as the scheduler does when no node
        fits; the FailedScheduling event is recorded on every attempt (aggregated)."""
        current = self.same_pod(pod)
        status = current.setdefault("status", {})
        old: Obj = next((c for c in status.get("conditions") or []
                         if c.get("type") == "PodScheduled"), {})
        if old.get("reason") != "Unschedulable" or old.get("message") != message:
            status["phase"] = "Pending"
            status["conditions"] = [{"type": "PodScheduled", "status": "False",
                                     "lastProbeTime": None, "lastTransitionTime": meta.rfc3339(),
                                     "reason": "Unschedulable", "message": message}]
            current = self.store.update_status("pods", current)
        self.recorder.event(current, "Warning", "FailedScheduling", message,
                            component="default-scheduler")
        return current

    def set_status(self, pod: Obj, status: Obj) -> Obj:
        """Write the Pod's status if it changed; a terminal phase is never undone."""
        m = pod["metadata"]
        try:
            current = self.store.get("pods", m["namespace"], m["name"])
        except errors.NotFoundError:
            return pod
        if current["metadata"].get("uid") != m.get("uid"):
            return pod
        status = eviction.keep_terminal(current.get("status") or {}, status)
        if current.get("status") == status:
            return current
        current["status"] = status
        return self.store.update_status("pods", current)

    def remove(self, pod: Obj) -> None:
        """The end of a Pod on the node: deleted with grace period 0 (the Pod's finalizers,
        if any, keep it in the store until they are removed; the node is done with it)."""
        m = pod["metadata"]
        with contextlib.suppress(errors.NotFoundError):
            current = self.store.get("pods", m["namespace"], m["name"])
            cm = current["metadata"]
            if cm.get("uid") != m.get("uid"):
                return
            if not cm.get("finalizers"):
                self.store.delete("pods", m["namespace"], m["name"])
                return
            self.finished.add(m["uid"])
            if cm.get("deletionGracePeriodSeconds") != 0:
                self.store.delete_gracefully("pods", current, grace=0)
