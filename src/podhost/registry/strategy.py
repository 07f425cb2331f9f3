"""The strategy of one resource: everything particular to it, as kube-apiserver's
`pkg/registry/<group>/<resource>/strategy.go` holds it. The generic registry (generic.py) runs
the same create, update and delete flow for every resource and asks the strategy at each step.

A strategy module (`registry/<group>/<resource>.py`) defines `strategy = XStrategy()`; the
defaults below are those of a plain stored object (ConfigMap-like): DNS subdomain names, no
defaults, no status, Name and Age columns.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from podhost.api import columns as cols
from podhost.api import errors, objectmeta, table
from podhost.api.errors import FieldError
from podhost.api.rbac import Attributes, User
from podhost.api.registry import ResourceType
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj

Deletion = Literal["gone", "mark", "held"]


class Authorizer(Protocol):
    """What admission needs of the authorizer (RBAC escalation checks)."""

    def allowed(self, attributes: Attributes) -> bool: ...

    def rules(self, user: User, namespace: str) -> list[Obj]: ...

    def role_rules(self, ref: Obj, namespace: str) -> list[Obj]: ...


@dataclass
class Context:
    """Who writes, and what the strategy may read: the store, the node, the authorizer."""
    store: ObjectStore
    user: User | None = None  # None: the node's own writers (controllers, the kubelet)
    node_name: str | None = None
    authorizer: Authorizer | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    subresource: str = ""  # the write's subresource (`status`), for admission plugins' rules


class Strategy:
    """Defaults for a stored object; subclasses override what is particular to them."""

    type: ResourceType  # set when the registry loads the module
    name_fn: objectmeta.NameFn = staticmethod(objectmeta.dns_subdomain)
    core_finalizers = True  # validateKubeFinalizerName (built-in kinds)
    columns: Sequence[cols.Column] = (cols.NAME, cols.AGE)
    # a finalized object (deletionTimestamp, no finalizers) is removed by the update that
    # cleared its last finalizer (shouldDeleteDuringUpdate); Namespaces wait for their
    # controller instead
    delete_when_finalized = True
    gc_policy = "Background"  # DefaultGarbageCollectionPolicy: what a delete does not say
    # never sent to webhooks or admission policies (upstream exempts admission's own
    # configuration, and Events)
    admission_exempt = False

    @property
    def kind(self) -> str:
        """The kind named in 422s: `Deployment.apps` for named groups, as the API server says."""
        t = self.type
        return f"{t.kind}.{t.group}" if t.group else t.kind

    @property
    def has_status(self) -> bool:
        return self.type.subresource("status") is not None

    # -- create and update --------------------------------------------------------------------
    def prepare_for_create(self, obj: Obj) -> None:
        """Defaults and the initial status (PrepareForCreate)."""
        if self.has_status:
            obj["status"] = self.initial_status(obj)

    def initial_status(self, obj: Obj) -> Obj:
        """The status a new object starts with: kube-apiserver's zero values."""
        return {}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """PrepareForUpdate of the main resource: a status subresource keeps the status."""
        if self.has_status:
            new["status"] = copy.deepcopy(old.get("status", {}))

    def prepare_for_subresource_update(self, subresource: str, new: Obj, old: Obj) -> Obj:
        """An update through a subresource (`/status`; Pods: `/binding`): the stored object
        with what that subresource may change taken from `new`."""
        if subresource != "status":
            raise errors.NotFoundError("the server could not find the requested resource")
        return self.prepare_for_status_update(new, old)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """An update of `/status`: everything but the status is the stored object's."""
        result = copy.deepcopy(old)
        result["status"] = new.get("status", {})
        labels = (new.get("metadata") or {}).get("labels")
        if labels is not None and self.status_keeps_labels:
            result["metadata"]["labels"] = labels
        return result

    status_keeps_labels = False

    def canonicalize(self, obj: Obj) -> None:
        """Write-time decoding rules, before validation (a Secret's stringData)."""

    # -- admission and validation --------------------------------------------------------------
    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        """The mutating admission plugins this resource has (ServiceAccount,
        DefaultStorageClass, ...)."""

    def validate(self, obj: Obj) -> list[FieldError]:
        """Validation of a new object beyond its ObjectMeta."""
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Validation of an update: the new object's rules and what may not change."""
        return self.validate(new)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Validation of an update through a subresource (the rest is the stored object's)."""
        return self.validate_update(new, old)

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        """Validating admission and checks that read the store (address allocation,
        escalation); raises an ApiError."""

    def invalid(self, obj: Obj, errs: list[FieldError]) -> errors.InvalidError:
        return errors.InvalidError(self.kind, (obj.get("metadata") or {}).get("name", ""), errs)

    # -- after a write --------------------------------------------------------------------------
    def after_create(self, ctx: Context, obj: Obj) -> None:
        """What the API server does once the object is stored (a Namespace's ServiceAccount)."""

    # -- delete -----------------------------------------------------------------------------------
    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """The grace period a delete gets (only Pods have one)."""
        return 0

    def check_delete(self, obj: Obj) -> None:
        """Refuse a delete (system namespaces)."""

    def begin_delete(self, obj: Obj) -> Deletion | None:
        """A delete of its own (a Namespace turns Terminating); None: the generic rules."""
        return None

    # -- tables ------------------------------------------------------------------------------------
    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [obj["metadata"]["name"], cols.age(obj, now)]

    def table(self, objects: list[Obj], rv: str | int | None, include_columns: bool = True,
              include_object: str | None = None) -> Obj:
        """kubectl's Table of `objects` (TableConvertor)."""
        return table.to_table(self.columns, self.cells, objects, rv, include_columns,
                              include_object)
