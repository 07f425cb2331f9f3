"""The resource quota controller (pkg/controller/resourcequota): each ResourceQuota's
status.hard (its spec's) and status.used, counted from its namespace's objects whenever a
quota or an object of a counted kind changes, and every resync period for the rest."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from podhost.api import quota
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.store.watch import Event

RESYNC = 300.0  # --resource-quota-sync-period
WATCHED = ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims")


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"

    def watches(self) -> list[Watch]:
        return [Watch("resourcequotas", w.own_key),
                *(Watch(r, self._namespace_keys) for r in WATCHED)]

    def _namespace_keys(self, event: Event) -> Iterable[str]:
        ns = event.object["metadata"].get("namespace") or ""
        return (w.key_of(q) for q in self.store.list("resourcequotas", ns)[0])

    def reconcile(self, key: str) -> float | None:
        q = w.get(self.store, "resourcequotas", key)
        if q is None or q["metadata"].get("deletionTimestamp"):
            return None
        ns = q["metadata"]["namespace"]
        status = copy.deepcopy(q.get("status") or {})
        status["hard"] = dict((q.get("spec") or {}).get("hard") or {})
        status["used"] = quota.used(q, {r: self.store.list(r, ns)[0]
                                        for r in quota.resources_of(q)})
        w.write_status(self.store, "resourcequotas", q, status)
        return RESYNC
