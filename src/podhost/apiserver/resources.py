"""One handler per verb for every resource: get, list, watch, create, update, patch, delete."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

import yaml

from podhost.api import errors, strategy, table, validation
from podhost.api import patch as patches
from podhost.apiserver.backend import LogOptions, NodeBackend
from podhost.apiserver.http import Request, Response, StreamResponse
from podhost.store.sqlite import Store
from podhost.store.watch import Event

Obj = dict[str, Any]

NAMESPACED = {"pods": True, "events": True, "namespaces": False}
FIELD_SELECTORS = {
    "pods": frozenset({"metadata.name", "metadata.namespace", "spec.nodeName",
                       "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                       "status.phase", "status.podIP", "status.nominatedNodeName",
                       "spec.hostNetwork"}),
    "events": frozenset({"metadata.name", "metadata.namespace", "involvedObject.kind",
                         "involvedObject.namespace", "involvedObject.name",
                         "involvedObject.uid", "involvedObject.apiVersion",
                         "involvedObject.resourceVersion", "involvedObject.fieldPath",
                         "reason", "reportingComponent", "source", "type"}),
    "namespaces": frozenset({"metadata.name", "status.phase"}),
}
PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _ok(obj: Any, status: int = 200, warnings: list[str] | None = None) -> Response:
    headers = [("Warning", f'299 - "{w}"') for w in warnings or []]
    return Response(status, _dumps(obj), headers=headers)


def wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def decode_body(request: Request, kind: str) -> Any:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if ctype.endswith("yaml"):
            return yaml.safe_load(request.body.decode("utf-8"))
        return json.loads(request.body or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise errors.BadRequestError(
            f'{kind} in version "v1" cannot be handled as a {kind}: {e}') from None


def _selector(request: Request, resource: str):  # -> Callable[[Obj], bool]
    from podhost.api import selectors
    return selectors.matcher(request.arg("labelSelector"), request.arg("fieldSelector"),
                             FIELD_SELECTORS.get(resource))


class Resources:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def dispatch(self, request: Request, resource: str, ns: str | None, name: str | None,
                       sub: str | None) -> Response | StreamResponse:
        if resource not in NAMESPACED:
            raise errors.NotFoundError("the server could not find the requested resource")
        if NAMESPACED[resource] and ns is not None:
            self._check_namespace(ns)
        if not NAMESPACED[resource]:
            ns = None
        method = request.method
        if name is None:
            if method == "GET":
                return await self.list_or_watch(request, resource, ns)
            if method == "POST":
                return self.create(request, resource, ns)
            raise errors.MethodNotAllowedError(f"the server does not allow this method on the "
                                               f"requested resource")
        if sub not in (None, "status"):
            raise errors.NotFoundError("the server could not find the requested resource")
        handlers = {"GET": self.get, "PUT": self.update, "PATCH": self.patch,
                    "DELETE": self.delete}
        if method not in handlers or (sub and method == "DELETE"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                               "requested resource")
        return handlers[method](request, resource, ns or "", name, sub == "status")

    def _check_namespace(self, ns: str) -> None:
        try:
            self.store.get("namespaces", "", ns)
        except errors.NotFoundError:
            raise errors.NotFoundError(f'namespaces "{ns}" not found', kind="namespaces",
                                       name=ns) from None

    def _kind(self, resource: str) -> str:
        return strategy.KINDS.get(resource, resource)

    def get(self, request: Request, resource: str, ns: str, name: str,
            status_only: bool = False) -> Response:
        obj = self.store.get(resource, ns, name)
        if wants_table(request):
            return _ok(table.to_table(resource, [obj], obj["metadata"].get("resourceVersion")))
        return _ok(obj)

    async def list_or_watch(self, request: Request, resource: str,
                            ns: str | None) -> Response | StreamResponse:
        predicate = _selector(request, resource)
        if request.flag("watch"):
            return self.watch(request, resource, ns, predicate)
        items, rv = self.store.list(resource, ns, predicate)
        if wants_table(request):
            return _ok(table.to_table(resource, items, rv))
        return _ok({"kind": self._kind(resource) + "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(rv)}, "items": items})

    def watch(self, request: Request, resource: str, ns: str | None, predicate: Any
              ) -> StreamResponse:
        rv_arg = request.arg("resourceVersion") or ""
        since = int(rv_arg) if rv_arg.isdigit() and rv_arg != "0" else None
        watcher, backlog = self.store.watch(resource, ns, since, predicate)
        initial: list[Event] = []
        if since is None:
            items, rv = self.store.list(resource, ns, predicate)
            initial = [Event("ADDED", resource, o, rv) for o in items]
        timeout = request.arg("timeoutSeconds")
        deadline = time.monotonic() + (int(timeout) if timeout and timeout.isdigit() else 1800)
        as_table = wants_table(request)

        async def stream() -> AsyncIterator[bytes]:
            first = True
            try:
                for ev in [*initial, *backlog]:
                    yield self._event_line(ev, as_table, first)
                    first = False
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    try:
                        ev = await asyncio.wait_for(watcher.queue.get(), remaining)
                    except asyncio.TimeoutError:
                        return
                    if ev is None:
                        return
                    yield self._event_line(ev, as_table, first)
                    first = False
            finally:
                self.store.unwatch(watcher)

        return StreamResponse(200, stream())

    def _event_line(self, ev: Event, as_table: bool, first: bool) -> bytes:
        obj = ev.object
        if as_table:
            obj = table.to_table(ev.resource, [obj], obj["metadata"].get("resourceVersion"),
                                 include_columns=first)
        return _dumps({"type": ev.type, "object": obj}) + b"\n"

    def _decode_object(self, request: Request, resource: str) -> Obj:
        kind = self._kind(resource)
        obj = decode_body(request, kind)
        if not isinstance(obj, dict):
            raise errors.BadRequestError(f'{kind} in version "v1" cannot be handled as a {kind}: '
                                         "the body must be an object")
        if obj.get("kind") not in (None, kind) or obj.get("apiVersion") not in (None, "v1"):
            raise errors.BadRequestError(
                f'{kind} in version "v1" cannot be handled as a {kind}: the kind or apiVersion '
                f'of the object ("{obj.get("apiVersion")}, {obj.get("kind")}") does not match')
        obj["kind"], obj["apiVersion"] = kind, "v1"
        validation.check_decodable(resource, obj)
        return obj

    def create(self, request: Request, resource: str, ns: str | None) -> Response:
        obj = self._decode_object(request, resource)
        warnings = validation.unknown_fields(resource, obj, request.arg("fieldValidation"))
        obj = strategy.prepare_for_create(resource, obj, ns)
        validation.validate(resource, obj)
        if request.arg("dryRun") == "All":
            return _ok(obj, 201, warnings)
        return _ok(self.store.create(resource, obj), 201, warnings)

    def update(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        obj = self._decode_object(request, resource)
        if obj.get("metadata", {}).get("name") not in (None, name):
            raise errors.BadRequestError("the name of the object does not match the name on the "
                                         "URL")
        obj.setdefault("metadata", {})["name"] = name
        return self._replace(request, resource, ns, name, obj, status_only,
                             obj["metadata"].get("resourceVersion"))

    def _replace(self, request: Request, resource: str, ns: str, name: str, obj: Obj,
                 status_only: bool, expected_rv: str | None) -> Response:
        warnings = validation.unknown_fields(resource, obj, request.arg("fieldValidation"))
        old = self.store.get(resource, ns, name)
        new = strategy.prepare_for_update(resource, obj, old, status_only=status_only)
        validation.validate_update(resource, new, old)
        if request.arg("dryRun") == "All":
            return _ok(new, 200, warnings)
        return _ok(self.store.update(resource, new, expected_rv=expected_rv), 200, warnings)

    def patch(self, request: Request, resource: str, ns: str, name: str,
              status_only: bool = False) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.UnsupportedMediaError(f"the body of the request was in an unknown "
                                               f'format - accepted media types include: '
                                               f'{", ".join(sorted(PATCH_TYPES))}')
        body = decode_body(request, self._kind(resource))
        try:
            current = self.store.get(resource, ns, name)
        except errors.NotFoundError:
            if ctype != "application/apply-patch+yaml":
                raise
            return self._apply_create(request, resource, ns, name, body)
        if ctype == "application/json-patch+json":
            new = patches.json_patch(current, body)
        elif ctype == "application/merge-patch+json":
            new = patches.merge_patch(current, body)
        else:
            new = patches.strategic_merge(current, body)
        if not isinstance(new, dict):
            raise errors.BadRequestError("the patch did not produce an object")
        new.setdefault("metadata", {})["name"] = name
        validation.check_decodable(resource, new)
        expected = (body.get("metadata") or {}).get("resourceVersion") \
            if isinstance(body, dict) else None
        return self._replace(request, resource, ns, name, new, status_only, expected)

    def _apply_create(self, request: Request, resource: str, ns: str, name: str,
                      body: Any) -> Response:
        if not isinstance(body, dict):
            raise errors.BadRequestError("the apply patch must be an object")
        body.setdefault("metadata", {})["name"] = name
        body["metadata"].setdefault("namespace", ns) if NAMESPACED[resource] else None
        validation.check_decodable(resource, body)
        obj = strategy.prepare_for_create(resource, body, ns if NAMESPACED[resource] else None)
        validation.validate(resource, obj)
        if request.arg("dryRun") == "All":
            return _ok(obj, 201)
        return _ok(self.store.create(resource, obj), 201)

    def delete(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        options = decode_body(request, "DeleteOptions") if request.body else {}
        options = options if isinstance(options, dict) else {}
        grace_arg = request.arg("gracePeriodSeconds")
        requested = options.get("gracePeriodSeconds")
        if grace_arg is not None and grace_arg.lstrip("-").isdigit():
            requested = int(grace_arg)
        obj = self.store.get(resource, ns, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise errors.ConflictError(f"Precondition failed: UID in precondition: {pre['uid']}, "
                                       f"UID in object meta: {obj['metadata'].get('uid')}")
        dry = request.arg("dryRun") == "All" or options.get("dryRun") == ["All"]
        if resource == "pods":
            grace = strategy.delete_grace_period(obj, requested)
            if grace > 0:
                strategy.mark_deleting(obj, grace)
                return _ok(obj if dry else self.store.update(resource, obj))
        if resource == "namespaces" and name in ("default", "kube-system", "kube-public",
                                                 "kube-node-lease"):
            raise errors.ForbiddenError(f'namespaces "{name}" is forbidden: this namespace may '
                                        "not be deleted", kind="namespaces", name=name)
        return _ok(obj if dry else self.store.delete(resource, ns, name))

    async def logs(self, node: NodeBackend, request: Request, ns: str, name: str
                   ) -> StreamResponse:
        self.store.get("pods", ns, name)

        def number(key: str) -> int | None:
            value = request.arg(key)
            if value is None:
                return None
            if not value.lstrip("-").isdigit():
                raise errors.BadRequestError(f'{key}: Invalid value: "{value}"')
            return int(value)

        options = LogOptions(container=request.arg("container"), follow=request.flag("follow"),
                             previous=request.flag("previous"),
                             timestamps=request.flag("timestamps"), tail_lines=number("tailLines"),
                             since_seconds=number("sinceSeconds"), since_time=request.arg(
                                 "sinceTime"), limit_bytes=number("limitBytes"))
        chunks = await node.logs(ns, name, options)
        return StreamResponse(200, chunks, content_type="text/plain")
