"""The garbage collector (pkg/controller/garbagecollector): objects whose owners (by
ownerReferences uid) are all gone are deleted; dangling references next to a live owner are
removed; an owner deleted with Foreground propagation (`foregroundDeletion` finalizer) has its
dependents deleted and goes once those with `blockOwnerDeletion` are gone; one deleted with
Orphan propagation (`orphan` finalizer) is removed from its dependents' ownerReferences first.

The informers keep the graph of owner uid → dependents, as upstream's collector does. Keys:
`check:<resource>/<ns>/<name>` (an object's owners, when it appears), `owner:<uid>` (the
dependents of a deleted object) and `finalize:<resource>/<ns>/<name>` (an owner held for
Foreground or Orphan). The first list after a start checks every object, so owners deleted
while the node was down are seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Iterable

from podhost.api import errors, registry
from podhost.api import gc as rules
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client
from podhost.store.watch import Event

SKIP = frozenset({"events", "customresourcedefinitions"})
POLL = 0.25
MONITOR_RESYNC = 1.0  # seconds between looks for newly served resources


def _path(resource: str, obj: Obj) -> str:
    m = obj["metadata"]
    return f"{resource}/{m.get('namespace') or ''}/{m['name']}"


class GarbageCollector(Controller):
    name = "garbage-collector"

    def resources(self) -> list[str]:
        return [r.name for r in registry.resources() if r.name not in SKIP]

    def watches(self) -> list[Watch]:
        self.watched = set(self.resources())
        return [Watch(r, self._keys(r)) for r in self.watched]

    async def run(self) -> None:
        monitor = asyncio.ensure_future(self._resync_monitors())
        try:
            await super().run()
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor

    async def _resync_monitors(self) -> None:
        """Watch resources served after the start too (custom resources), as upstream's
        collector resyncs its monitors from discovery."""
        informers: list[asyncio.Future[None]] = []
        try:
            while True:
                await asyncio.sleep(MONITOR_RESYNC)
                for r in set(self.resources()) - self.watched:
                    self.watched.add(r)
                    informers.append(asyncio.ensure_future(
                        self._inform(Watch(r, self._keys(r)))))
        finally:
            for task in informers:
                task.cancel()

    def __init__(self, store: ObjectStore | Client) -> None:
        super().__init__(store)
        # owner uid → the dependents that name it (the collector's graph, from the informers)
        self.graph: dict[str, set[tuple[str, str, str]]] = {}
        self.owners: dict[tuple[str, str, str], set[str]] = {}
        self.watched = set[str]()

    def _track(self, resource: str, event: Event) -> None:
        m = event.object["metadata"]
        node = (resource, m.get("namespace") or "", m["name"])
        for uid in self.owners.pop(node, set()):
            self.graph.get(uid, set()).discard(node)
            if not self.graph.get(uid):
                self.graph.pop(uid, None)
        if event.type == "DELETED":
            return
        uids = {str(r.get("uid")) for r in m.get("ownerReferences") or []}
        if uids:
            self.owners[node] = uids
            for uid in uids:
                self.graph.setdefault(uid, set()).add(node)

    def _keys(self, resource: str) -> Callable[[Event], Iterable[str]]:
        def keys(event: Event) -> Iterable[str]:
            self._track(resource, event)
            m = event.object["metadata"]
            if event.type == "DELETED":
                if m.get("uid") in self.graph:
                    yield f"owner:{m.get('uid')}"
                return
            if m.get("deletionTimestamp") and {rules.ORPHAN, rules.FOREGROUND} & set(
                    m.get("finalizers") or []):
                yield "finalize:" + _path(resource, event.object)
            if m.get("ownerReferences") and event.type == "ADDED":
                yield "check:" + _path(resource, event.object)
        return keys

    def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition(":")
        if kind == "owner":
            for resource, obj in self.dependents(rest):
                self.check(resource, obj)
            return None
        resource, ns, name = rest.split("/", 2)
        try:
            obj = self.store.get(resource, ns, name)
        except errors.NotFoundError:
            return None
        if kind == "check":
            self.check(resource, obj)
            return None
        return self.finalize(resource, obj)

    def dependents(self, uid: str) -> list[tuple[str, Obj]]:
        out = []
        for resource, ns, name in sorted(self.graph.get(uid, set())):
            try:
                obj = self.store.get(resource, ns, name)
            except errors.NotFoundError:
                continue
            if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                out.append((resource, obj))
        return out

    def owner_state(self, obj: Obj, ref: Obj) -> str:
        """"live", "absent" (gone, or another object of that name) or "unknown" kind."""
        group_version = str(ref.get("apiVersion", ""))
        served = registry.by_kind(str(ref.get("kind", "")), group_version)
        if served is None:
            return "unknown"
        ns = obj["metadata"].get("namespace") or "" if served.namespaced else ""
        try:
            owner = self.store.get(served.name, ns, str(ref.get("name", "")))
        except errors.NotFoundError:
            return "absent"
        if owner["metadata"].get("uid") != ref.get("uid"):
            return "absent"
        m = owner["metadata"]
        if m.get("deletionTimestamp") and rules.FOREGROUND in (m.get("finalizers") or []):
            return "foreground"
        return "live"

    def check(self, resource: str, obj: Obj) -> None:
        """attemptToDeleteItem: delete an object whose owners are gone (or are going in the
        foreground), or drop its dangling references."""
        refs = obj["metadata"].get("ownerReferences") or []
        states = [self.owner_state(obj, r) for r in refs]
        if not refs or "unknown" in states:
            return
        if all(s == "absent" for s in states):
            w.delete(self.store, resource, obj)
        elif "live" in states and "absent" in states:
            fresh = copy.deepcopy(obj)
            fresh["metadata"]["ownerReferences"] = [r for r, s in zip(refs, states)
                                                    if s != "absent"]
            w.update(self.store, resource, fresh)
        elif all(s in ("absent", "foreground") for s in states):
            w.delete(self.store, resource, obj, policy="Foreground")

    def finalize(self, resource: str, owner: Obj) -> float | None:
        m = owner["metadata"]
        finalizers = m.get("finalizers") or []
        if not m.get("deletionTimestamp"):
            return None
        deps = self.dependents(m["uid"])
        if rules.ORPHAN in finalizers:
            for dep_resource, dep in deps:  # orphanDependents
                fresh = copy.deepcopy(dep)
                refs = [r for r in dep["metadata"].get("ownerReferences") or []
                        if r.get("uid") != m["uid"]]
                fresh["metadata"]["ownerReferences"] = refs
                if not refs:
                    del fresh["metadata"]["ownerReferences"]
                w.update(self.store, dep_resource, fresh)
            return self._release(resource, owner, rules.ORPHAN)
        for dep_resource, dep in deps:
            if not dep["metadata"].get("deletionTimestamp"):
                w.delete(self.store, dep_resource, dep, policy="Foreground")
        blocking = [d for _, d in deps if any(
            r.get("uid") == m["uid"] and r.get("blockOwnerDeletion")
            for r in d["metadata"].get("ownerReferences") or [])]
        if blocking:
            return POLL
        return self._release(resource, owner, rules.FOREGROUND)

    def _release(self, resource: str, owner: Obj, finalizer: str) -> float | None:
        fresh = copy.deepcopy(owner)
        fresh["metadata"]["finalizers"] = [f for f in owner["metadata"].get("finalizers") or []
                                           if f != finalizer]
        if not fresh["metadata"]["finalizers"]:
            del fresh["metadata"]["finalizers"]
        w.update(self.store, resource, fresh)  # the registry removes it once finalized
        return None
