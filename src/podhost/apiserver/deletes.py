"""The delete verbs: delete and deletecollection, graceful for Pods and held by finalizers like
the generic registry store; deleting a Namespace marks it Terminating, and the namespace
controller (podhost.controllers.namespace) empties and removes it."""

from __future__ import annotations

import contextlib
from typing import Any

from podhost.api import errors, gc, strategy
from podhost.api.types import Obj
from podhost.apiserver import objects
from podhost.apiserver.common import (
    api_version_of,
    decode_body,
    dry_run,
    int_arg,
    kind_of,
    not_allowed,
    ok,
    selector,
)
from podhost.apiserver.http import Request, Response
from podhost.store.sqlite import Store


def check_preconditions(obj: Obj, options: Obj) -> None:
    """DeleteOptions.preconditions: the uid and resourceVersion the client expects."""
    pre = options.get("preconditions") or {}
    m = obj["metadata"]
    if pre.get("uid") and pre["uid"] != m.get("uid"):
        raise errors.ConflictError(f"Precondition failed: UID in precondition: {pre['uid']}, "
                                   f"UID in object meta: {m.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != m.get("resourceVersion"):
        raise errors.ConflictError(
            f"Precondition failed: ResourceVersion in precondition: "
            f"{pre['resourceVersion']}, ResourceVersion in object meta: "
            f"{m.get('resourceVersion')}")


def delete_options(request: Request) -> tuple[Obj, int | None]:
    """The DeleteOptions body and the grace period asked for (the query wins)."""
    options = decode_body(request, "DeleteOptions") if request.body else {}
    options = options if isinstance(options, dict) else {}
    requested = options.get("gracePeriodSeconds")
    grace_arg = int_arg(request, "gracePeriodSeconds")
    if grace_arg is not None:
        requested = grace_arg
    return options, requested


class Deletes:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.webhooks: Any = None  # webhooks.Webhooks, set by app.py

    def delete(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        options, requested = delete_options(request)
        obj = self.store.get(resource, ns, name)
        check_preconditions(obj, options)
        dry = dry_run(request, options)
        if self.webhooks is not None:  # validating admission of the DELETE
            self.webhooks.validate(request, resource, None, obj)
        if resource == "namespaces":
            return self._delete_namespace(obj, dry)
        policy = gc.propagation_policy(resource, options)
        return ok(self.delete_one(resource, obj, requested, dry, policy))

    def delete_collection(self, request: Request, resource: str, ns: str | None) -> Response:
        if resource == "namespaces":
            raise not_allowed()
        options, requested = delete_options(request)
        dry = dry_run(request, options)
        items, _ = self.store.list(resource, ns, selector(request, resource))
        policy = gc.propagation_policy(resource, options)
        deleted = []
        for obj in items:
            with contextlib.suppress(errors.NotFoundError):
                deleted.append(self.delete_one(resource, obj, requested, dry, policy))
        return ok({"kind": kind_of(resource) + "List", "apiVersion": api_version_of(resource),
                   "metadata": {"resourceVersion": str(self.store.current_rv())},
                   "items": deleted})

    def delete_one(self, resource: str, obj: Obj, requested: int | None, dry: bool,
                   policy: str = "Background") -> Obj:
        """Graceful for Pods; held by finalizers (deletionTimestamp set, the object kept until
        its finalizers are removed; Orphan and Foreground add one for the garbage collector);
        otherwise gone now."""
        gc.add_finalizer(obj, policy)
        action = strategy.begin_delete(resource, obj, requested)
        if dry or action == "held":
            return obj
        if action == "mark":
            return self.store.update(resource, obj)
        m = obj["metadata"]
        return self.store.delete(resource, m.get("namespace") or "", m["name"])

    def _delete_namespace(self, ns_obj: Obj, dry: bool) -> Response:
        name = ns_obj["metadata"]["name"]
        if name in objects.SYSTEM_NAMESPACES:
            raise errors.ForbiddenError(f'namespaces "{name}" is forbidden: this namespace may '
                                        "not be deleted", kind="namespaces", name=name)
        if dry:
            return ok(strategy.mark_namespace_terminating(ns_obj))
        if not strategy.namespace_terminating(ns_obj):
            ns_obj = self.store.update("namespaces", strategy.mark_namespace_terminating(ns_obj))
        return ok(ns_obj)
