"""The PodSecurity admission plugin at the API edge: the request's attributes (operation,
subresource, user, the namespace's labels) handed to api/podsecurity, its error raised, its
warnings sent as `Warning:` headers (request.warnings, app.py), its audit annotations logged
on the `podhost.audit` logger (podhost keeps no audit log of its own)."""

from __future__ import annotations

import logging

from podhost.api import errors, podsecurity
from podhost.api.podsecurity import admission
from podhost.api.types import Obj
from podhost.apiserver.http import Request
from podhost.store.sqlite import Store

audit_log = logging.getLogger("podhost.audit")
_SUBRESOURCES = frozenset({"status", "scale", "ephemeralcontainers", "resize", "binding",
                           "eviction", "finalize"})


def subresource_of(request: Request) -> str:
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in _SUBRESOURCES else ""


def namespace_labels(store: Store, namespace: str) -> dict[str, str] | None:
    try:
        ns = store.get("namespaces", "", namespace)
    except errors.NotFoundError:
        return None
    return (ns.get("metadata") or {}).get("labels") or {}


def admit(store: Store, request: Request, resource: str, obj: Obj, old: Obj | None,
          subresource: str | None = None) -> None:
    """PodSecurity's validating admission of a create (old None) or update."""
    if resource not in ("pods", "namespaces") and resource not in admission.TEMPLATE_PATHS:
        return
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = name if resource == "namespaces" else str(meta.get("namespace") or "")
    req = admission.Request(
        resource, subresource_of(request) if subresource is None else subresource,
        "CREATE" if old is None else "UPDATE", namespace, name,
        getattr(request.user, "name", "") or "", obj, old)
    labels = None if resource == "namespaces" else namespace_labels(store, namespace)
    decision = admission.admit(podsecurity.current(), req, labels,
                               lambda: store.list("pods", namespace)[0])
    request.warnings.extend(decision.warnings)
    if decision.audit:
        level = logging.INFO if any(k.endswith(("audit-violations", "error", "exempt"))
                                    for k in decision.audit) else logging.DEBUG
        audit_log.log(level, "%s %s %s/%s by %s: %s", req.operation, resource, namespace, name,
                      req.username or "-", decision.audit)
    if decision.error is not None:
        raise decision.error
