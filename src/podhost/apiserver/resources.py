"""Routes a request on /api/v1/... to its verb: reads.py (get, list, watch), writes.py (create,
update, patch, apply, and the status subresource), deletes.py (delete, deletecollection)."""

from __future__ import annotations

from podhost.api import errors, registry
from podhost.apiserver import ephemeral, scale
from podhost.apiserver.common import NAMESPACED, check_namespace, not_allowed
from podhost.apiserver.deletes import Deletes
from podhost.apiserver.http import Request, Response, StreamResponse
from podhost.apiserver.reads import Reads
from podhost.apiserver.writes import Writes
from podhost.registry.generic import Registry
from podhost.store.sqlite import Store

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class Resources:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.registry = registry
        self.store = store
        self.reads = Reads(store)
        self.writes = Writes(registry)
        self.deletes = Deletes(store, registry)

    async def dispatch(self, request: Request, resource: str, ns: str | None, name: str | None,
                       sub: str | None) -> Response | StreamResponse:
        if resource not in NAMESPACED:
            raise errors.NotFoundError("the server could not find the requested resource")
        if NAMESPACED[resource] and ns is not None and not (
                request.method == "GET" and name is None):
            check_namespace(self.store, ns)
        if not NAMESPACED[resource]:
            ns = None
        method = request.method
        served = registry.get(resource)
        verb = "deletecollection" if method == "DELETE" and name is None else _VERBS.get(method)
        if served is not None and sub is None and verb and verb not in served.verbs:
            raise not_allowed()  # read-only resources (customresourcedefinitions)
        if name is None:
            if method == "GET":
                return await self.reads.list_or_watch(request, resource, ns)
            if method == "POST":
                return self.writes.create(request, resource, ns)
            if method == "DELETE":
                return self.deletes.delete_collection(request, resource, ns)
            raise not_allowed()
        if sub == "scale" and served is not None and served.subresource("scale"):
            return scale.handle(self.registry, request, resource, ns or "", name)
        if sub == "ephemeralcontainers" and served is not None and \
                served.subresource("ephemeralcontainers"):
            return ephemeral.handle(self.store, request, ns or "", name, self.registry.node_name)
        if sub not in (None, "status") or (sub == "status" and served is not None
                                           and served.subresource("status") is None):
            raise errors.NotFoundError("the server could not find the requested resource")
        handlers = {"GET": self.reads.get, "PUT": self.writes.update, "PATCH": self.writes.patch,
                    "DELETE": self.deletes.delete}
        if method not in handlers or (sub and method == "DELETE"):
            raise not_allowed()
        return handlers[method](request, resource, ns or "", name, sub == "status")
