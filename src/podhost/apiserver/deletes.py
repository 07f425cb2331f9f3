"""The delete verbs: delete and deletecollection. The registry's write path decides what a
delete does (graceful for Pods, held by finalizers, a Namespace turning Terminating)."""

from __future__ import annotations

import contextlib
from typing import Any

from podhost.api import errors, gc
from podhost.api.types import Obj
from podhost.apiserver.common import (
    api_version_of,
    decode_body,
    dry_run,
    int_arg,
    kind_of,
    ok,
    selector,
)
from podhost.apiserver.http import Request, Response
from podhost.registry import strategies
from podhost.registry.generic import Registry
from podhost.store.sqlite import Store


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
    def __init__(self, store: Store, registry: Registry) -> None:
        self.registry = registry
        self.store = store
        self.webhooks: Any = None  # webhooks.Webhooks: validating admission of a DELETE

    def delete(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        options, requested = delete_options(request)
        policy = gc.propagation_policy(options, strategies.get(resource).gc_policy)
        if self.webhooks is not None:
            ctx = self.registry.context(request.user, dry_run(request, options))
            ctx.warnings = request.warnings
            self.webhooks.validate_delete(ctx, resource, self.store.get(resource, ns, name))
        return ok(self.registry.delete(resource, ns, name, grace=requested, policy=policy,
                                       preconditions=options.get("preconditions"),
                                       dry_run=dry_run(request, options)))

    def delete_collection(self, request: Request, resource: str, ns: str | None) -> Response:
        options, requested = delete_options(request)
        dry = dry_run(request, options)
        items, _ = self.store.list(resource, ns, selector(request, resource))
        policy = gc.propagation_policy(options, strategies.get(resource).gc_policy)
        deleted = []
        for obj in items:
            m = obj["metadata"]
            with contextlib.suppress(errors.NotFoundError):
                deleted.append(self.registry.delete(resource, m.get("namespace") or "",
                                                    m["name"], grace=requested, policy=policy,
                                                    dry_run=dry, obj=obj))
        return ok({"kind": kind_of(resource) + "List", "apiVersion": api_version_of(resource),
                   "metadata": {"resourceVersion": str(self.store.current_rv())},
                   "items": deleted})

