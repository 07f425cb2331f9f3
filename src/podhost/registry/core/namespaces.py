"""Namespaces (pkg/registry/core/namespace): DNS label names, the `kubernetes` finalizer, the
`kubernetes.io/metadata.name` label, Active until deleted, then Terminating until the
namespace controller has emptied it. A new namespace gets its `default` ServiceAccount."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from podhost.api import errors, meta, objectmeta, table
from podhost.api.types import Obj
from podhost.registry import generic
from podhost.registry.strategy import Context, Deletion, Strategy

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NAME_LABEL = "kubernetes.io/metadata.name"


def default_service_account(ns: str) -> Obj:
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    return generic.prepare_for_create("serviceaccounts", obj, ns)


def mark_terminating(ns: Obj) -> Obj:
    """A deleted Namespace: Terminating until the namespace controller has emptied it."""
    ns["metadata"].setdefault("deletionTimestamp", meta.rfc3339())
    ns["metadata"].setdefault("deletionGracePeriodSeconds", 0)
    ns.setdefault("status", {})["phase"] = "Terminating"
    return ns


class NamespaceStrategy(Strategy):
    name_fn = staticmethod(objectmeta.dns_label)
    columns = table.NAMESPACE_COLUMNS
    delete_when_finalized = False  # the namespace controller removes it once empty

    def prepare_for_create(self, obj: Obj) -> None:
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})[NAME_LABEL] = obj["metadata"].get("name", "")

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        new["metadata"].setdefault("labels", {})[NAME_LABEL] = new["metadata"].get("name", "")

    def after_create(self, ctx: Context, obj: Obj) -> None:
        with contextlib.suppress(errors.AlreadyExistsError):
            ctx.store.create("serviceaccounts",
                             default_service_account(obj["metadata"]["name"]))

    def check_delete(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            raise errors.ForbiddenError(f'namespaces "{name}" is forbidden: this namespace may '
                                        "not be deleted", kind="namespaces", name=name)

    def begin_delete(self, obj: Obj) -> Deletion | None:
        if generic.namespace_terminating(obj):
            return "held"
        mark_terminating(obj)
        return "mark"

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.namespace_cells(obj, now)


strategy = NamespaceStrategy()
