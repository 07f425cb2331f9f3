"""What the workload controllers share, as kube-controller-manager's controller utilities do:
keys, controller references, Pod creation from a template (PodControl), deletion with the API's
graceful rules, Pod readiness and availability, and status writes.

Every write goes through the registry's write path (a `Client`: validation, admission,
managedFields as `kube-controller-manager`); the store reads its own writes: a Pod created or
marked deleted in one reconcile is listed by the next one, so the store itself plays the part of
upstream's expectations (no second Pod is made for a create not yet observed), also after a restart.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable
from datetime import datetime

from podhost.api import errors, gc, meta
from podhost.api.types import Obj
from podhost.registry.client import Client
from podhost.store.watch import Event


def key_of(obj: Obj) -> str:
    m = obj["metadata"]
    return f"{m.get('namespace') or ''}/{m['name']}"


def split(key: str) -> tuple[str, str]:
    ns, _, name = key.partition("/")
    return ns, name


def own_key(event: Event) -> Iterable[str]:
    yield key_of(event.object)


def owner_keys(kind: str) -> Callable[[Event], Iterable[str]]:
    """Watch keys: the key of the event object's controller when it is a `kind`."""
    def keys(event: Event) -> Iterable[str]:
        ref = gc.controller_ref(event.object)
        if ref is not None and ref.get("kind") == kind:
            yield f"{event.object['metadata'].get('namespace') or ''}/{ref.get('name')}"
    return keys


def controller_of(owner: Obj, kind: str, api_version: str) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned(store: Client, resource: str, owner: Obj) -> list[Obj]:
    """The objects of `resource` in the owner's namespace that it controls."""
    uid = owner["metadata"]["uid"]
    items, _ = store.list(resource, owner["metadata"].get("namespace") or "")
    return [o for o in items if (gc.controller_ref(o) or {}).get("uid") == uid]


def get(store: Client, resource: str, key: str) -> Obj | None:
    ns, name = split(key)
    try:
        return store.get(resource, ns, name)
    except errors.NotFoundError:
        return None


def new_pod(template: Obj, owner_ref: Obj, ns: str, *, name: str = "",
            generate_name: str = "", labels: dict[str, str] | None = None,
            annotations: dict[str, str] | None = None) -> Obj:
    """A Pod from a PodTemplateSpec (GetPodFromTemplate), defaulted as the API stores it."""
    tm = template.get("metadata") or {}
    pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "labels": {**(tm.get("labels") or {}), **(labels or {})},
        "ownerReferences": [owner_ref]}, "spec": copy.deepcopy(template.get("spec") or {})}
    m = pod["metadata"]
    if tm.get("annotations") or annotations:
        m["annotations"] = {**(tm.get("annotations") or {}), **(annotations or {})}
    if tm.get("finalizers"):
        m["finalizers"] = list(tm["finalizers"])
    if name:
        m["name"] = name
    else:
        m["generateName"] = generate_name
    m["namespace"] = ns
    return pod


def create(store: Client, resource: str, obj: Obj) -> Obj | None:
    """Create; None when the name is taken (a generated name clashed, or it exists)."""
    try:
        return store.create(resource, obj)
    except errors.AlreadyExistsError:
        return None


def delete(store: Client, resource: str, obj: Obj, grace: int | None = None,
           policy: str = "Background") -> None:
    """Delete as a client's DELETE does: graceful for Pods, held by finalizers."""
    with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
        store.delete_gracefully(resource, obj, grace, policy)


def write_status(store: Client, resource: str, obj: Obj, status: Obj) -> Obj:
    """Write `status` when it changed (409 on a stale object: the key is retried)."""
    if obj.get("status") == status:
        return obj
    new = copy.deepcopy(obj)
    new["status"] = status
    return store.update(resource, new, expected_rv=obj["metadata"].get("resourceVersion"))


def update(store: Client, resource: str, obj: Obj) -> Obj:
    return store.update(resource, obj, expected_rv=obj["metadata"].get("resourceVersion"))


# -- Pods ------------------------------------------------------------------------------------------
def terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def active(pod: Obj) -> bool:
    """IsPodActive: not finished and not being deleted."""
    return not terminal(pod) and not pod["metadata"].get("deletionTimestamp")


def ready_since(pod: Obj) -> datetime | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            ts = c.get("lastTransitionTime")
            return meta.parse_time(ts) if ts else meta.now()
    return None


def ready(pod: Obj) -> bool:
    return ready_since(pod) is not None


def available(pod: Obj, min_ready: int, now: datetime) -> bool:
    since = ready_since(pod)
    return since is not None and (min_ready == 0 or
                                  (now - since).total_seconds() >= min_ready)


def available_in(pods: list[Obj], min_ready: int, now: datetime) -> float | None:
    """Seconds until the next ready Pod becomes available, if one is waiting."""
    waits = [min_ready - (now - since).total_seconds() for p in pods
             if (since := ready_since(p)) is not None
             and (now - since).total_seconds() < min_ready]
    return max(0.05, min(waits)) if waits else None


def condition(kind: str, status: str, reason: str, message: str,
              old: list[Obj] | None = None, update_time: bool = False) -> Obj:
    """A condition, keeping lastTransitionTime when its status did not change."""
    now = meta.rfc3339()
    prior = next((c for c in old or [] if c.get("type") == kind), None)
    cond: Obj = {"type": kind, "status": status}
    if update_time:
        cond["lastUpdateTime"] = now
    cond["lastTransitionTime"] = prior["lastTransitionTime"] \
        if prior and prior.get("status") == status and prior.get("lastTransitionTime") else now
    if update_time and prior and prior.get("status") == status and \
            prior.get("reason") == reason and prior.get("lastUpdateTime"):
        cond["lastUpdateTime"] = prior["lastUpdateTime"]
    cond["reason"], cond["message"] = reason, message
    return cond


def set_condition(conditions: list[Obj], cond: Obj) -> list[Obj]:
    return [*(c for c in conditions if c.get("type") != cond["type"]), cond]


def has_condition(obj: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])
