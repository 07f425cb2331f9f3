"""The one write path, as kube-apiserver's generic registry store runs it for every resource:
create, update (main resource or `/status`) and delete, with the resource's strategy asked at
each step, admission (the strategy's own plugins, then the registry-wide ones), ObjectMeta
validation, namespace lifecycle, managedFields for the writer, dry-run, finalizers and
graceful deletion.

The HTTP verbs (apiserver/), every controller, the node's status writes and start-up seeding
all write through a `Registry`; in-process writers use a `Client` (client.py), which has the
store's methods so that they read as before.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from podhost.api import errors, gc, managedfields, meta, objectmeta
from podhost.api.rbac import User
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry import strategies
from podhost.registry.strategy import Authorizer, Context, Deletion, Strategy

# what a client may not set on a new object: the server fills or keeps it
SERVER_META = ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
               "selfLink", "managedFields")
IDENTITY_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "namespace", "name", "generateName")


class AdmissionPlugin(Protocol):
    """A registry-wide admission plugin (PodSecurity, webhooks, policies)."""

    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None: ...

    def validate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None: ...


def check_namespace_arg(obj: Obj, namespace: str | None) -> None:
    """The object's namespace is the request's (400 when they differ); none when cluster
    scoped."""
    m = obj.setdefault("metadata", {})
    if namespace is None:
        m.pop("namespace", None)
        return
    given = m.get("namespace")
    if given and given != namespace:
        raise errors.BadRequestError("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
    m["namespace"] = namespace


def prepare_for_create(resource: str, obj: Obj, namespace: str | None) -> Obj:
    """Server-owned metadata (uid, creationTimestamp, a generated name), then the strategy's
    defaults and initial status (BeforeCreate)."""
    check_namespace_arg(obj, namespace)
    m = obj["metadata"]
    if not m.get("name") and m.get("generateName"):
        m["name"] = meta.generate_name(m["generateName"])
    m["uid"] = meta.new_uid()
    m["creationTimestamp"] = meta.rfc3339()
    for key in SERVER_META:
        m.pop(key, None)
    strategies.get(resource).prepare_for_create(obj)
    return obj


def prepare_for_update(resource: str, new: Obj, old: Obj) -> Obj:
    """What an update keeps of the stored object (identity, and what the strategy keeps:
    status on the main resource), and the strategy's defaults (BeforeUpdate)."""
    m = new.setdefault("metadata", {})
    for key in IDENTITY_META:
        if key in old["metadata"]:
            m[key] = old["metadata"][key]
        else:
            m.pop(key, None)
    strategies.get(resource).prepare_for_update(new, old)
    return new


def validate(resource: str, obj: Obj, old: Obj | None = None) -> None:
    """ObjectMeta and the strategy's validation of a new object (or of an update from `old`);
    InvalidError (422) when anything is wrong."""
    Registry.validate(strategies.get(resource), obj, old)


def finalized(obj: Obj) -> bool:
    """A deleted object whose last finalizer is gone and whose grace period is over: the
    registry deletes it now (shouldDeleteDuringUpdate)."""
    m = obj.get("metadata") or {}
    return bool(m.get("deletionTimestamp")) and not m.get("finalizers") and \
        m.get("deletionGracePeriodSeconds") in (0, None)


def mark_deleting(obj: Obj, grace: int) -> Obj:
    m = obj["metadata"]
    if m.get("deletionTimestamp") is None or grace < m.get("deletionGracePeriodSeconds", grace + 1):
        m["deletionTimestamp"] = meta.rfc3339(meta.now() + timedelta(seconds=grace))
        m["deletionGracePeriodSeconds"] = grace
    return obj


def begin_delete(resource: str, obj: Obj, requested: int | None) -> Deletion:
    """What a delete does (BeforeDelete): "mark": `obj` now carries deletionTimestamp (a grace
    period, or finalizers hold it) and must be written back; "held": already marked with no
    grace left and still held, nothing to write; "gone": the object is removed now."""
    s = strategies.get(resource)
    marked = s.begin_delete(obj)
    if marked is not None:
        return marked
    grace = s.grace_period(obj, requested)
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


def check_preconditions(resource: str, obj: Obj, preconditions: Obj | None) -> None:
    """DeleteOptions.preconditions: the uid and resourceVersion the client expects; a mismatch
    is NewConflict's `Operation cannot be fulfilled on <resource> "<name>": Precondition …`."""
    pre = preconditions or {}
    m = obj["metadata"]
    if pre.get("uid") and pre["uid"] != m.get("uid"):
        raise errors.ConflictError.of(resource, m.get("name", ""), "Precondition failed: UID in "
                                      f"precondition: {pre['uid']}, UID in object meta: "
                                      f"{m.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != m.get("resourceVersion"):
        raise errors.ConflictError.of(
            resource, m.get("name", ""), "Precondition failed: ResourceVersion in precondition: "
            f"{pre['resourceVersion']}, ResourceVersion in object meta: "
            f"{m.get('resourceVersion')}")


def conflict(resource: str, name: str) -> errors.ConflictError:
    return errors.ConflictError.modified(resource, name)


def terminating_error(resource: str, name: str, ns: str) -> errors.ForbiddenError:
    cause = {"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
             "field": "metadata.namespace"}
    return errors.ForbiddenError.of(
        resource, name, f"unable to create new content in namespace {ns} because it is being "
        "terminated", details={"causes": [cause]})


def namespace_terminating(ns: Obj) -> bool:
    return bool((ns.get("status") or {}).get("phase") == "Terminating")


def set_managed_fields(obj: Obj, entries: list[Obj] | None) -> Obj:
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)
    return obj


class Registry:
    """The write path over one store; `plugins` run after each resource's own admission."""

    def __init__(self, store: ObjectStore, *, node_name: str | None = None,
                 authorizer: Authorizer | None = None,
                 plugins: Sequence[AdmissionPlugin] = ()) -> None:
        self.store = store
        self.node_name = node_name
        self.authorizer = authorizer
        self.plugins: list[AdmissionPlugin] = list(plugins)

    def context(self, user: User | None = None, dry_run: bool = False) -> Context:
        return Context(self.store, user, self.node_name, self.authorizer, dry_run)

    # -- create ------------------------------------------------------------------------------
    def create(self, resource: str, obj: Obj, namespace: str | None, *,
               ctx: Context | None = None, manager: str | None = None,
               managed: list[Obj] | None = None, prepared: bool = False) -> Obj:
        """Create `obj` in `namespace` (None: cluster scoped). `managed`: managedFields an
        apply computed; otherwise `manager` owns what it set."""
        ctx = ctx or self.context()
        s = strategies.get(resource)
        if not prepared:
            prepare_for_create(resource, obj, namespace)
        s.canonicalize(obj)
        if managed is None and manager is not None:
            # before mutating admission, as the create handler does: what a plugin adds (the
            # ServiceAccount token volume) belongs to no manager
            managed = managedfields.updated(resource, None, obj, manager, meta.rfc3339())
        self._admit(ctx, s, obj, None)
        if namespace is not None and s.type.namespaced:
            self._check_writable_namespace(resource, obj, namespace)
        set_managed_fields(obj, managed)
        if ctx.dry_run:
            return obj
        created = self.store.create(resource, obj)
        s.after_create(ctx, created)
        return created

    # -- update --------------------------------------------------------------------------------
    def update(self, resource: str, obj: Obj, *, ctx: Context | None = None,
               subresource: str = "", manager: str | None = None,
               managed: list[Obj] | None = None,
               expected_rv: str | None = None, owns_status: bool = False) -> Obj:
        """Write `obj` over the stored object of its name. `subresource` "status" writes only
        the status; `owns_status`: an in-process writer's update keeps the status it sets."""
        ctx = ctx or self.context()
        s = strategies.get(resource)
        m = obj.setdefault("metadata", {})
        ns, name = m.get("namespace") or "", m.get("name") or ""
        old = self.store.get(resource, ns, name)
        if expected_rv and str(expected_rv) != old["metadata"].get("resourceVersion"):
            raise conflict(resource, name)
        if subresource:
            new = s.prepare_for_subresource_update(subresource, obj, old)
        else:
            if errs := objectmeta.update_errors(m, old["metadata"]):
                raise s.invalid(obj, errs)
            status = obj.get("status")
            prepare_for_update(resource, obj, old)
            if owns_status and status is not None:
                obj["status"] = status
            new = obj
        s.canonicalize(new)
        self._admit(ctx, s, new, old, subresource)
        if managed is None and manager is not None:
            managed = managedfields.updated(resource, old, new, manager, meta.rfc3339(),
                                            subresource)
        if managed is not None:
            set_managed_fields(new, managed)
        elif "managedFields" in old["metadata"] and "managedFields" not in new["metadata"]:
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"]
        if ctx.dry_run:
            return new
        updated = self.store.update(resource, new, expected_rv=expected_rv)
        if s.delete_when_finalized and finalized(updated):  # the last finalizer is gone
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete(resource, ns, name)
        return updated

    # -- delete --------------------------------------------------------------------------------
    def delete(self, resource: str, namespace: str, name: str, *, grace: int | None = None,
               policy: str = "Background", preconditions: Obj | None = None,
               dry_run: bool = False, obj: Obj | None = None,
               expected_rv: str | None = None) -> Obj:
        """Delete as a client's DELETE does: graceful for Pods, held by finalizers (Orphan and
        Foreground add one for the garbage collector), otherwise gone now."""
        s = strategies.get(resource)
        current = copy.deepcopy(obj) if obj is not None else \
            self.store.get(resource, namespace, name)
        check_preconditions(resource, current, preconditions)
        s.check_delete(current)
        gc.add_finalizer(current, policy)
        action = begin_delete(resource, current, grace)
        if dry_run or action == "held":
            return current
        m = current["metadata"]
        if action == "mark":
            return self.store.update(resource, current, expected_rv=expected_rv)
        return self.store.delete(resource, m.get("namespace") or "", m["name"])

    def remove(self, resource: str, namespace: str, name: str) -> Obj:
        """Remove a finalized object now (the garbage collector's and the kubelet's last step:
        upstream's delete with grace period 0 and no finalizers left)."""
        return self.store.delete(resource, namespace, name)

    # -- admission -----------------------------------------------------------------------------
    def _admit(self, ctx: Context, s: Strategy, obj: Obj, old: Obj | None,
               subresource: str = "") -> None:
        """Mutating admission, validation, validating admission (the order of the API
        server's handlers)."""
        resource = s.type.name
        ctx.subresource = subresource
        s.mutate(ctx, obj, old)
        for plugin in self.plugins:
            plugin.mutate(ctx, resource, obj, old)
        self.validate(s, obj, old, subresource)
        s.admit(ctx, obj, old)
        for plugin in self.plugins:
            plugin.validate(ctx, resource, obj, old)

    @staticmethod
    def validate(s: Strategy, obj: Obj, old: Obj | None, subresource: str = "") -> None:
        m = obj.get("metadata") or {}
        errs = objectmeta.validate(m, s.type.namespaced, s.name_fn, s.core_finalizers)
        if old is None:
            errs += s.validate(obj)
        elif subresource:
            errs += s.validate_status_update(obj, old)
        else:
            errs += s.validate_update(obj, old)
        if errs:
            raise s.invalid(obj, errs)

    def _check_writable_namespace(self, resource: str, obj: Obj, ns: str) -> None:
        """NamespaceLifecycle: no new content in a missing or terminating namespace."""
        try:
            ns_obj = self.store.get("namespaces", "", ns)
        except errors.NotFoundError:
            raise errors.NotFoundError(f'namespaces "{ns}" not found', kind="namespaces",
                                       name=ns) from None
        if namespace_terminating(ns_obj):
            raise terminating_error(resource, obj["metadata"].get("name", ""), ns)
