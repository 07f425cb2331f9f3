"""The LimitRanger and ResourceQuota admission plugins, registry-wide (generic.AdmissionPlugin)
so that every create — the API's and the Pods the controllers make — gets them: LimitRanger
injects a namespace's Container defaults into new Pods and refuses what breaks its min, max
and ratios; ResourceQuota refuses a new object that would take a quota of its namespace over
its hard limits (403 with upstream's `exceeded quota: ...` message). Usage is counted from the
store at admission time, so it is exact; the usage controller writes it to status.used."""

from __future__ import annotations

from podhost.api import limitrange, podclasses, quota
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry.core import pods
from podhost.registry.strategy import Context


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


class LimitRanger:
    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        if resource == "pods" and old is None and _namespace(obj):
            limitrange.inject_defaults(obj, ctx.store.list("limitranges", _namespace(obj))[0])
            # kube-apiserver computes the QoS class after admission: with the defaults
            obj.setdefault("status", {})["qosClass"] = pods.qos_class(obj)

    def validate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        if resource not in ("pods", "persistentvolumeclaims") or old is not None or \
                not _namespace(obj):
            return
        ranges = ctx.store.list("limitranges", _namespace(obj))[0]
        if errs := limitrange.violations(resource, obj, ranges):
            reason = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
            raise quota.forbidden(resource, obj, reason)


def usage(store: ObjectStore, q: Obj) -> dict[str, str]:
    """status.used of a quota, counted from its namespace's objects."""
    ns = q["metadata"]["namespace"]
    return quota.used(q, {r: store.list(r, ns)[0] for r in quota.resources_of(q)})


class ResourceQuota:
    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        pass

    def validate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        ns = _namespace(obj)
        if old is not None or not ns or resource == "events":
            return
        for q in ctx.store.list("resourcequotas", ns)[0]:
            if resource not in quota.resources_of(q):
                continue
            if (reason := quota.check(q, resource, obj, usage(ctx.store, q))) is not None:
                raise quota.forbidden(resource, obj, reason)


class PodClasses:
    """The Priority and RuntimeClass plugins on a new Pod: spec.priority from its
    PriorityClass (or the global default), the RuntimeClass's overhead; 403 for a class that
    does not exist."""

    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        if resource != "pods" or old is not None:
            return
        reason = podclasses.admit_priority(obj, ctx.store.list("priorityclasses", None)[0]) or \
            podclasses.admit_runtime_class(obj, ctx.store.list("runtimeclasses", None)[0])
        if reason is not None:
            raise quota.forbidden(resource, obj, reason)

    def validate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        pass
