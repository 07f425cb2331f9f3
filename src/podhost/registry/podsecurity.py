"""PodSecurity as a registry-wide admission plugin (generic.AdmissionPlugin): every create and
update through the one write path — the API's verbs and the Pods the controllers make — gets
api/podsecurity's decision: its error raised, its warnings added to the writer's (sent as
`Warning:` headers), its audit annotations logged on the `podhost.audit` logger (podhost keeps
no audit log of its own)."""

from __future__ import annotations

import logging

from podhost.api import errors, podsecurity
from podhost.api.podsecurity import admission
from podhost.api.rbac import User
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry.strategy import Context

audit_log = logging.getLogger("podhost.audit")


class PodSecurity:
    """The plugin; its configuration is the process's (api.podsecurity.configure)."""

    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        pass

    def validate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        if resource in admission.TEMPLATE_PATHS and old is not None and \
                _template(resource, obj) == _template(resource, old):
            return  # a status or scale write, or one that leaves the Pod template alone
        admit(ctx.store, ctx.user, ctx.warnings, resource, obj, old)


def admit(store: ObjectStore, user: User | None, warnings: list[str], resource: str, obj: Obj,
          old: Obj | None, subresource: str = "") -> None:
    """PodSecurity's validating admission of a create (old None) or update."""
    if resource not in ("pods", "namespaces") and resource not in admission.TEMPLATE_PATHS:
        return
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = name if resource == "namespaces" else str(meta.get("namespace") or "")
    req = admission.Request(resource, subresource, "CREATE" if old is None else "UPDATE",
                            namespace, name, user.name if user is not None else "", obj, old)
    labels = None if resource == "namespaces" else _namespace_labels(store, namespace)
    decision = admission.admit(podsecurity.current(), req, labels,
                               lambda: store.list("pods", namespace)[0])
    warnings.extend(decision.warnings)
    if decision.audit:
        level = logging.INFO if any(k.endswith(("audit-violations", "error", "exempt"))
                                    for k in decision.audit) else logging.DEBUG
        audit_log.log(level, "%s %s %s/%s by %s: %s", req.operation, resource, namespace, name,
                      req.username or "-", decision.audit)
    if decision.error is not None:
        raise decision.error


def _namespace_labels(store: ObjectStore, namespace: str) -> dict[str, str] | None:
    try:
        ns = store.get("namespaces", "", namespace)
    except errors.NotFoundError:
        return None
    return (ns.get("metadata") or {}).get("labels") or {}


def _template(resource: str, obj: Obj) -> object:
    value: object = obj
    for key in admission.TEMPLATE_PATHS[resource]:
        value = value.get(key) if isinstance(value, dict) else None
    return value
