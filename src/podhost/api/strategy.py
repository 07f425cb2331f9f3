"""What the API server does to objects around storage: create, update, status and delete rules.

Pure functions over wire dicts, mirroring the registry strategies (`PrepareForCreate`,
`PrepareForUpdate`, graceful deletion) of kube-apiserver.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Literal

from podhost.api import (
    defaults,
    ephemeral,
    errors,
    ingress,
    meta,
    quantity,
    registry,
    service,
    volumeclaims,
    workloads,
)
from podhost.api.types import Obj


def qos_class(pod: Obj) -> str:
    """GetPodQOS: Guaranteed, Burstable or BestEffort from requests and limits."""
    spec = pod.get("spec", {})
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    requests: dict[str, float] = {}
    limits: dict[str, float] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in req and quantity.parse(str(req[name])) != 0:
                requests[name] = requests.get(name, 0) + quantity.parse(str(req[name]))
            if name in lim and quantity.parse(str(lim[name])) != 0:
                limits[name] = limits.get(name, 0) + quantity.parse(str(lim[name]))
        if not all(n in lim for n in ("cpu", "memory")):
            guaranteed = False
        elif any(n in req and quantity.parse(str(req[n])) != quantity.parse(str(lim[n]))
                 for n in ("cpu", "memory")):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and limits else "Burstable"


def check_namespace(obj: Obj, namespace: str | None) -> None:
    meta_ = obj.setdefault("metadata", {})
    if namespace is None:
        meta_.pop("namespace", None)
        return
    given = meta_.get("namespace")
    if given and given != namespace:
        raise errors.BadRequestError("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
    meta_["namespace"] = namespace


def prepare_for_create(resource: str, obj: Obj, namespace: str | None) -> Obj:
    """Fill server-owned metadata, defaults and initial status of a new object."""
    check_namespace(obj, namespace)
    m = obj["metadata"]
    if not m.get("name") and m.get("generateName"):
        m["name"] = meta.generate_name(m["generateName"])
    m["uid"] = meta.new_uid()
    m["creationTimestamp"] = meta.rfc3339()
    for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                "selfLink", "managedFields"):
        m.pop(key, None)
    if m.get("annotations") == {}:
        pass
    if resource == "pods":
        defaults.default_pod(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
    elif resource == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
        m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m.get("name", "")
    elif resource == "secrets":
        obj.setdefault("type", "Opaque")
    elif resource == "services":
        obj["status"] = {}
        service.default_service(obj)
    elif resource in registry.WORKLOADS:
        workloads.prepare_create(resource, obj)
    elif resource in registry.STORAGE_RESOURCES:
        volumeclaims.prepare_create(resource, obj)
    elif resource in registry.INGRESS_RESOURCES:
        ingress.prepare_create(resource, obj)
    return obj


def prepare_for_update(resource: str, new: Obj, old: Obj, *, status_only: bool = False) -> Obj:
    """Keep what a client may not change: identity, and status (or spec, for /status)."""
    result = copy.deepcopy(old) if status_only else new
    m, old_m = new.setdefault("metadata", {}), old["metadata"]
    if status_only:
        result["status"] = new.get("status", {})
        return result
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "namespace", "name", "generateName"):
        if key in old_m:
            m[key] = old_m[key]
        else:
            m.pop(key, None)
    if resource == "pods":
        ephemeral.keep_on_update(new, old)
        defaults.default_pod(new)
        new["status"] = old.get("status", {})
    elif resource == "services":
        new["status"] = old.get("status", {})
        service.default_service(new)
    elif resource in registry.WORKLOADS:
        workloads.prepare_update(resource, new, old)
    elif resource in registry.STORAGE_RESOURCES:
        volumeclaims.prepare_update(resource, new, old)
    elif resource in registry.INGRESS_RESOURCES:
        ingress.prepare_update(resource, new, old)
    return new


def finalized(obj: Obj) -> bool:
    """A deleted object whose last finalizer is gone and whose grace period is over: the
    registry deletes it now (shouldDeleteDuringUpdate)."""
    m = obj.get("metadata") or {}
    return bool(m.get("deletionTimestamp")) and not m.get("finalizers") and \
        m.get("deletionGracePeriodSeconds") in (0, None)


def delete_grace_period(pod: Obj, requested: int | None) -> int:
    """The grace period a delete gets: 0 for unscheduled or finished Pods (registry rules)."""
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if not pod.get("spec", {}).get("nodeName"):
        return 0
    grace = requested if requested is not None else \
        pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    current = pod.get("metadata", {}).get("deletionGracePeriodSeconds")
    if current is not None and grace > current:
        return int(current)
    return max(0, int(grace))


def mark_deleting(pod: Obj, grace: int) -> Obj:
    m = pod["metadata"]
    if m.get("deletionTimestamp") is None or grace < m.get("deletionGracePeriodSeconds", grace + 1):
        m["deletionTimestamp"] = meta.rfc3339(meta.now() + timedelta(seconds=grace))
        m["deletionGracePeriodSeconds"] = grace
    return pod


Deletion = Literal["gone", "mark", "held"]


def begin_delete(resource: str, obj: Obj, requested: int | None) -> Deletion:
    """What a delete does, as the generic registry store decides it (BeforeDelete):

    "mark": a Pod with a grace period, or an object held by finalizers: `obj` now carries
    deletionTimestamp and must be written back; "held": already marked with no grace left and
    still held by finalizers, nothing to write; "gone": the object is removed now.
    """
    if resource == "pods":
        grace = delete_grace_period(obj, requested)
        if grace > 0:
            mark_deleting(obj, grace)
            return "mark"
    m = obj["metadata"]
    if m.get("finalizers"):
        if m.get("deletionTimestamp") and m.get("deletionGracePeriodSeconds") == 0:
            return "held"
        mark_deleting(obj, 0)
        return "mark"
    return "gone"


def mark_namespace_terminating(ns: Obj) -> Obj:
    """A deleted Namespace: Terminating until the namespace controller has emptied it."""
    ns["metadata"].setdefault("deletionTimestamp", meta.rfc3339())
    ns["metadata"].setdefault("deletionGracePeriodSeconds", 0)
    ns.setdefault("status", {})["phase"] = "Terminating"
    return ns


def namespace_terminating(ns: Obj) -> bool:
    return bool((ns.get("status") or {}).get("phase") == "Terminating")
