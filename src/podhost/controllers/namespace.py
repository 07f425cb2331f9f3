"""The namespace controller: a Terminating Namespace is emptied, then deleted.

Deleting a Namespace through the API only marks it Terminating (deletes.py). This controller
deletes everything in it as a client's delete would (Pods gracefully, objects with finalizers
marked and kept until their finalizers are removed), looks again every POLL seconds while
something is still going, and deletes the Namespace once nothing is left. Namespaces left
Terminating by an earlier process are picked up by the first list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from podhost.api import errors
from podhost.api import registry as table
from podhost.controllers.controller import Controller, Watch
from podhost.registry import generic
from podhost.store.watch import Event

# workloads first, so that their controllers make no new Pods meanwhile; then every other
# namespaced resource the registry serves
FIRST = ("cronjobs", "jobs", "deployments", "daemonsets", "statefulsets", "replicasets")


def content() -> list[str]:
    """Every namespaced resource that is stored, in the order a namespace is emptied."""
    stored = [r.name for r in table.resources() if r.namespaced and "delete" in r.verbs]
    return [*(r for r in FIRST if r in stored), *(r for r in stored if r not in FIRST)]


POLL = 0.25


def _terminating(event: Event) -> Iterable[str]:
    if event.type != "DELETED" and generic.namespace_terminating(event.object):
        yield event.object["metadata"]["name"]


class NamespaceController(Controller):
    name = "namespace-controller"

    def watches(self) -> list[Watch]:
        return [Watch("namespaces", _terminating)]

    def reconcile(self, key: str) -> float | None:
        try:
            ns = self.store.get("namespaces", "", key)
        except errors.NotFoundError:
            return None
        if not generic.namespace_terminating(ns):
            return None
        if self.empty(key):
            return POLL
        self.empty(key)  # what was made meanwhile (the node's last Events)
        with contextlib.suppress(errors.NotFoundError):
            self.store.delete("namespaces", "", key)
        return None

    def empty(self, ns: str) -> int:
        """One pass: delete what can go now; returns how many objects are still going (Pods
        terminating, objects held by finalizers)."""
        remaining = 0
        for kind in content():
            items, _ = self.store.list(kind, ns)
            for obj in items:
                m = obj["metadata"]
                if m.get("deletionTimestamp"):
                    remaining += 1
                    continue
                with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
                    if self.store.delete_gracefully(kind, obj)["metadata"].get(
                            "deletionTimestamp"):
                        remaining += 1
        return remaining
