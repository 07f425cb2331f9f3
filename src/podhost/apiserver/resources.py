"""One handler per verb for every resource: get, list, watch, create, update, patch, delete."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import yaml

from podhost import yamljson
from podhost.api import errors, managedfields, meta, strategy, table, validation
from podhost.api import patch as patches
from podhost.api.nodeapi import LogOptions, NodeBackend
from podhost.api.types import Obj
from podhost.apiserver import objects, protobuf
from podhost.apiserver.http import Request, Response, StreamResponse
from podhost.store.sqlite import Store
from podhost.store.watch import Event

NAMESPACED = {"pods": True, "events": True, "namespaces": False, "configmaps": True,
              "secrets": True, "serviceaccounts": True, "nodes": False}
META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
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
    "configmaps": META_FIELDS,
    "secrets": META_FIELDS | {"type"},
    "serviceaccounts": META_FIELDS,
    "nodes": frozenset({"metadata.name", "spec.unschedulable"}),
}
BOOKMARK_INTERVAL = 60.0
PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _ok(obj: Any, status: int = 200, warnings: list[str] | None = None) -> Response:
    headers = [("Warning", "299 - " + json.dumps(w)) for w in warnings or []]
    return Response(status, _dumps(obj), headers=headers)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def decode_body(request: Request, kind: str) -> Any:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype == protobuf.CONTENT_TYPE:
        return protobuf.decode(request.body, kind)
    try:
        if ctype.endswith("yaml"):
            return yamljson.load(request.body.decode("utf-8"))
        return json.loads(request.body or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise errors.BadRequestError(
            f'{kind} in version "v1" cannot be handled as a {kind}: {e}') from None


def field_manager(request: Request) -> str:
    return managedfields.manager_name(request.arg("fieldManager"),
                                      request.headers.get("user-agent"))


def set_managed_fields(obj: Obj, entries: list[Obj]) -> Obj:
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)
    return obj


def patch_options_invalid(error: errors.FieldError) -> errors.InvalidError:
    """ValidatePatchOptions failures: 422 on the PatchOptions kind."""
    invalid = errors.InvalidError("PatchOptions.meta.k8s.io", "", [error])
    invalid.kind = "PatchOptions"
    return invalid


def check_patch_options(request: Request, apply: bool) -> None:
    if apply and not request.arg("fieldManager"):
        raise patch_options_invalid(errors.required("fieldManager", "is required for apply patch"))
    if not apply and request.arg("force") is not None:
        raise patch_options_invalid(errors.forbidden("force",
                                                     "may not be specified for non-apply patch"))


def check_apply_config(kind: str, body: Any) -> Obj:
    """The applied configuration must be an object of this kind, without managedFields."""
    if not isinstance(body, dict):
        raise errors.BadRequestError("the apply patch must be an object")
    group, _, version = str(body.get("apiVersion") or "").rpartition("/")
    if (body.get("apiVersion"), body.get("kind")) != ("v1", kind):
        raise errors.BadRequestError(f"invalid object type: {group}/{version}, "
                                     f"Kind={body.get('kind') or ''}")
    if not isinstance(body.get("metadata") or {}, dict):
        raise errors.BadRequestError("metadata must be an object")
    if (body.get("metadata") or {}).get("managedFields") is not None:
        raise errors.BadRequestError("metadata.managedFields must be nil")
    return body


def conflict(resource: str, name: str) -> errors.ConflictError:
    return errors.ConflictError(
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again", kind=resource,
        name=name)


def _selector(request: Request, resource: str):  # -> Callable[[Obj], bool]
    from podhost.api import selectors
    return selectors.matcher(request.arg("labelSelector"), request.arg("fieldSelector"),
                             FIELD_SELECTORS.get(resource))


def selects_all(request: Request) -> bool:
    """No label or field selector: every stored object is in the list."""
    from podhost.api import selectors
    return selectors.selects_all(request.arg("labelSelector"), request.arg("fieldSelector"))


def int_arg(request: Request, key: str) -> int | None:
    """An integer query parameter; anything else is a 400 as the parameter decoder says."""
    value = request.arg(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequestError(f'{key}: Invalid value: "{value}": strconv.ParseInt: '
                                     f'parsing "{value}": invalid syntax') from None


def dry_run(request: Request, options: Obj | None = None) -> bool:
    """dryRun=All (query or DeleteOptions); other values are refused."""
    values = request.query.get("dryRun", []) + list((options or {}).get("dryRun") or [])
    for v in values:
        if v != "All":
            raise errors.InvalidError("DryRun", "", [errors.not_supported("dryRun", v, ["All"])])
    return bool(values)


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(data.get("start"), str):
            raise ValueError("unsupported version")
        return int(data["rv"]), data["start"]
    except (ValueError, TypeError, KeyError, binascii.Error) as e:
        raise errors.BadRequestError(f"continue key is not valid: {e}") from None


def _position(obj: Obj) -> str:
    m = obj["metadata"]
    return f"{m.get('namespace') or ''}/{m['name']}"


def _row_position(row: tuple[str, str, str]) -> str:
    """_position of a stored row (namespace, name, JSON): the same key, without decoding."""
    return f"{row[0]}/{row[1]}"


T = TypeVar("T")


def page(items: list[T], rv: int, limit: int | None, token: str | None,
         position: Callable[[Any], str] = _position
         ) -> tuple[list[T], int, Obj]:
    """One page of a name-ordered list: items, the list's RV and extra list metadata."""
    extra: Obj = {}
    if token:
        rv, start = decode_continue(token)
        items = [o for o in items if position(o) > start]
    if limit and limit > 0 and len(items) > limit:
        rest = len(items) - limit
        items = items[:limit]
        extra = {"continue": encode_continue(rv, position(items[-1])),
                 "remainingItemCount": rest}
    return items, rv, extra


def list_body(kind: str, rv: int, extra: Obj, items_json: list[str]) -> bytes:
    """The JSON of a List whose items are already encoded, byte for byte what _dumps gives
    for the same List with the decoded items."""
    head = _dumps({"kind": kind + "List", "apiVersion": "v1",
                   "metadata": {"resourceVersion": str(rv), **extra}, "items": []})
    assert head.endswith(b"[]}")
    return b"".join((head[:-2], ",".join(items_json).encode(), b"]}"))


class Resources:
    def __init__(self, store: Store, node_name: str | None = None, ca_bundle: str = "") -> None:
        self.node_name = node_name  # Pods bound to another node are refused
        self.ca_bundle = ca_bundle  # published as kube-root-ca.crt in every namespace
        self.store = store
        self.finalizing: dict[str, asyncio.Task[None]] = {}

    async def dispatch(self, request: Request, resource: str, ns: str | None, name: str | None,
                       sub: str | None) -> Response | StreamResponse:
        if resource not in NAMESPACED:
            raise errors.NotFoundError("the server could not find the requested resource")
        if NAMESPACED[resource] and ns is not None and not (
                request.method == "GET" and name is None):
            self._check_namespace(ns)
        if not NAMESPACED[resource]:
            ns = None
        method = request.method
        if name is None:
            if method == "GET":
                return await self.list_or_watch(request, resource, ns)
            if method == "POST":
                return self.create(request, resource, ns)
            if method == "DELETE":
                return self.delete_collection(request, resource, ns)
            raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                               "requested resource")
        if sub not in (None, "status"):
            raise errors.NotFoundError("the server could not find the requested resource")
        handlers = {"GET": self.get, "PUT": self.update, "PATCH": self.patch,
                    "DELETE": self.delete}
        if method not in handlers or (sub and method == "DELETE"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                               "requested resource")
        return handlers[method](request, resource, ns or "", name, sub == "status")

    def _check_namespace(self, ns: str) -> Obj:
        try:
            return self.store.get("namespaces", "", ns)
        except errors.NotFoundError:
            raise errors.NotFoundError(f'namespaces "{ns}" not found', kind="namespaces",
                                       name=ns) from None

    def _kind(self, resource: str) -> str:
        return strategy.KINDS.get(resource, resource)

    def get(self, request: Request, resource: str, ns: str, name: str,
            status_only: bool = False) -> Response:
        obj = self.store.get(resource, ns, name)
        if wants_table(request):
            return _ok(table.to_table(resource, [obj], obj["metadata"].get("resourceVersion"),
                                      include_object=request.arg("includeObject")))
        return _ok(obj)

    async def list_or_watch(self, request: Request, resource: str,
                            ns: str | None) -> Response | StreamResponse:
        predicate = _selector(request, resource)
        timeout = int_arg(request, "timeoutSeconds")
        limit = int_arg(request, "limit")
        if request.flag("watch"):
            return self.watch(request, resource, ns, predicate, timeout)
        if not wants_table(request) and selects_all(request):
            # plain JSON of every object: the stored JSON is what decoding and encoding each
            # object again would give, so it is served as it is
            rows, rv = self.store.list_json(resource, ns)
            rows, rv, extra = page(rows, rv, limit, request.arg("continue"), _row_position)
            return Response(200, list_body(self._kind(resource), rv, extra,
                                           [row[2] for row in rows]))
        items, rv = self.store.list(resource, ns, predicate)
        items, rv, extra = page(items, rv, limit, request.arg("continue"))
        if wants_table(request):
            result = table.to_table(resource, items, rv,
                                    include_object=request.arg("includeObject"))
            result["metadata"].update(extra)
            return _ok(result)
        return _ok({"kind": self._kind(resource) + "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(rv), **extra}, "items": items})

    def watch(self, request: Request, resource: str, ns: str | None, predicate: Any,
              timeout: int | None) -> StreamResponse:
        rv_arg = request.arg("resourceVersion") or ""
        if rv_arg not in ("", "0") and not rv_arg.isdigit():
            raise errors.BadRequestError(f'resourceVersion: Invalid value: "{rv_arg}": '
                                         "must be a non-negative integer")
        since = int(rv_arg) if rv_arg not in ("", "0") else None
        as_table = wants_table(request)
        try:
            watcher, backlog = self.store.watch(resource, ns, since, predicate)
        except errors.GoneError as e:
            return StreamResponse(200, _one(_dumps({"type": "ERROR",
                                                    "object": e.to_status()}) + b"\n"))
        initial: list[Event] = []
        if since is None:
            items, rv = self.store.list(resource, ns, predicate)
            initial = [Event("ADDED", resource, o, rv) for o in items]
        deadline = time.monotonic() + (timeout if timeout and timeout > 0 else 1800)
        bookmarks = request.flag("allowWatchBookmarks")
        kind = self._kind(resource)

        async def stream() -> AsyncIterator[bytes]:
            first = True
            try:
                for ev in [*initial, *backlog]:
                    yield self._event_line(ev, as_table, first)
                    first = False
                next_bookmark = time.monotonic()
                while True:
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    if bookmarks and now >= next_bookmark and watcher.queue.empty():
                        yield self._bookmark(kind, self.store.current_rv())
                        next_bookmark = now + BOOKMARK_INTERVAL
                    wait = deadline - now
                    if bookmarks:
                        wait = max(0.0, min(wait, next_bookmark - now))
                    try:
                        ev = await asyncio.wait_for(watcher.queue.get(), wait)
                    except TimeoutError:
                        continue
                    if ev is None:
                        return
                    yield self._event_line(ev, as_table, first)
                    first = False
            finally:
                self.store.unwatch(watcher)

        return StreamResponse(200, stream())

    @staticmethod
    def _bookmark(kind: str, rv: int) -> bytes:
        return _dumps({"type": "BOOKMARK", "object": {
            "kind": kind, "apiVersion": "v1",
            "metadata": {"resourceVersion": str(rv)}}}) + b"\n"

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

    def _prepare(self, resource: str, obj: Obj) -> Obj:
        """Write-time rules shared by create, update and patch, then validation."""
        if resource == "secrets":
            objects.prepare_secret(obj)
        return obj

    def _validate(self, resource: str, obj: Obj, old: Obj | None = None) -> None:
        if resource == "pods":
            if old is None:
                validation.validate(resource, obj, self.node_name)
            else:
                validation.validate_update(resource, obj, old, self.node_name)
        else:
            objects.validate(resource, obj)

    def _check_writable_namespace(self, resource: str, obj: Obj, ns: str | None) -> None:
        if ns is None:
            return
        if objects.is_terminating(self._check_namespace(ns)):
            raise objects.terminating_error(resource, obj["metadata"].get("name", ""), ns)

    def create(self, request: Request, resource: str, ns: str | None) -> Response:
        obj = self._decode_object(request, resource)
        warnings = validation.unknown_fields(resource, obj, request.arg("fieldValidation"))
        obj = strategy.prepare_for_create(resource, obj, ns)
        self._prepare(resource, obj)
        self._validate(resource, obj)
        self._check_writable_namespace(resource, obj, ns)
        set_managed_fields(obj, managedfields.updated(resource, None, obj, field_manager(request),
                                                      meta.rfc3339()))
        return self._store_create(request, resource, obj, warnings)

    def _store_create(self, request: Request, resource: str, obj: Obj,
                      warnings: list[str]) -> Response:
        if dry_run(request):
            return _ok(obj, 201, warnings)
        created = self.store.create(resource, obj)
        if resource == "namespaces":
            self._seed_namespace(created["metadata"]["name"])
        return _ok(created, 201, warnings)

    def _seed_namespace(self, ns: str) -> None:
        with contextlib.suppress(errors.AlreadyExistsError):
            self.store.create("serviceaccounts", objects.default_service_account(ns))
        self._publish_root_ca(ns)

    def _publish_root_ca(self, ns: str) -> None:
        """kube-root-ca.crt: made in every namespace, made again when deleted."""
        if self.ca_bundle:
            with contextlib.suppress(errors.AlreadyExistsError):
                self.store.create("configmaps", objects.root_ca_configmap(ns, self.ca_bundle))

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
                 status_only: bool, expected_rv: str | None,
                 applied: list[Obj] | None = None, warnings: list[str] | None = None
                 ) -> Response:
        """Write `obj` over the stored object; `applied`: managedFields an Apply computed."""
        warnings = (warnings or []) + validation.unknown_fields(resource, obj,
                                                                request.arg("fieldValidation"))
        old = self.store.get(resource, ns, name)
        if expected_rv and str(expected_rv) != old["metadata"].get("resourceVersion"):
            raise conflict(resource, name)
        if not status_only and (errs := validation.metadata_update_errors(
                obj.get("metadata") or {}, old["metadata"])):
            raise errors.InvalidError(self._kind(resource), name, errs)
        new = strategy.prepare_for_update(resource, obj, old, status_only=status_only)
        self._prepare(resource, new)
        self._validate(resource, new, old)
        if applied is None:
            applied = managedfields.updated(resource, old, new, field_manager(request),
                                            meta.rfc3339(), "status" if status_only else "")
        set_managed_fields(new, applied)
        if dry_run(request):
            return _ok(new, 200, warnings)
        updated = self.store.update(resource, new, expected_rv=expected_rv)
        if resource != "namespaces" and strategy.finalized(updated):  # last finalizer gone
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete(resource, ns, name)
            if resource == "configmaps" and name == objects.ROOT_CA_CONFIGMAP:
                self._republish_root_ca(ns)
        return _ok(updated, 200, warnings)

    def patch(self, request: Request, resource: str, ns: str, name: str,
              status_only: bool = False) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.UnsupportedMediaError(f"the body of the request was in an unknown "
                                               f'format - accepted media types include: '
                                               f'{", ".join(sorted(PATCH_TYPES))}')
        apply = ctype == "application/apply-patch+yaml"
        check_patch_options(request, apply)
        body = decode_body(request, self._kind(resource))
        try:
            current: Obj | None = self.store.get(resource, ns, name)
        except errors.NotFoundError:
            if not apply:
                raise
            current = None
        if apply:
            return self._apply(request, resource, ns, name, body, current, status_only)
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

    def _apply(self, request: Request, resource: str, ns: str, name: str, body: Any,
               current: Obj | None, status_only: bool) -> Response:
        """Server-side apply: merge, take ownership (409 on conflicts unless force), write."""
        config = check_apply_config(self._kind(resource), body)
        config.setdefault("metadata", {})["name"] = name
        if NAMESPACED[resource]:
            config["metadata"].setdefault("namespace", ns)
        validation.check_decodable(resource, config)
        warnings = validation.unknown_fields(resource, config, request.arg("fieldValidation"))
        merged, managed = managedfields.apply(
            resource, current, config, str(request.arg("fieldManager")), request.flag("force"),
            meta.rfc3339(), "status" if status_only else "")
        if current is None:
            return self._apply_create(request, resource, ns, merged, managed, warnings)
        validation.check_decodable(resource, merged)
        expected = config["metadata"].get("resourceVersion")
        return self._replace(request, resource, ns, name, merged, status_only, expected,
                             managed, warnings)

    def _apply_create(self, request: Request, resource: str, ns: str, obj: Obj,
                      managed: list[Obj], warnings: list[str]) -> Response:
        target_ns = ns if NAMESPACED[resource] else None
        obj = strategy.prepare_for_create(resource, obj, target_ns)
        self._prepare(resource, obj)
        self._validate(resource, obj)
        self._check_writable_namespace(resource, obj, target_ns)
        set_managed_fields(obj, managed)
        return self._store_create(request, resource, obj, warnings)

    def _delete_options(self, request: Request) -> tuple[Obj, int | None]:
        options = decode_body(request, "DeleteOptions") if request.body else {}
        options = options if isinstance(options, dict) else {}
        requested = options.get("gracePeriodSeconds")
        grace_arg = int_arg(request, "gracePeriodSeconds")
        if grace_arg is not None:
            requested = grace_arg
        return options, requested

    def delete(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        options, requested = self._delete_options(request)
        obj = self.store.get(resource, ns, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise errors.ConflictError(f"Precondition failed: UID in precondition: {pre['uid']}, "
                                       f"UID in object meta: {obj['metadata'].get('uid')}")
        if pre.get("resourceVersion") and \
                pre["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise errors.ConflictError(
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{obj['metadata'].get('resourceVersion')}")
        dry = dry_run(request, options)
        if resource == "namespaces":
            return self._delete_namespace(obj, dry)
        return _ok(self._delete_one(resource, obj, requested, dry))

    def _delete_one(self, resource: str, obj: Obj, requested: int | None, dry: bool) -> Obj:
        """Graceful for Pods; held by finalizers (deletionTimestamp set, the object kept until
        its finalizers are removed) like the generic registry store."""
        if resource == "pods":
            grace = strategy.delete_grace_period(obj, requested)
            if grace > 0:
                strategy.mark_deleting(obj, grace)
                return obj if dry else self.store.update(resource, obj)
        m = obj["metadata"]
        if m.get("finalizers"):
            if m.get("deletionTimestamp") and m.get("deletionGracePeriodSeconds") == 0:
                return obj
            strategy.mark_deleting(obj, 0)
            return obj if dry else self.store.update(resource, obj)
        if dry:
            return obj
        gone = self.store.delete(resource, m.get("namespace") or "", m["name"])
        if resource == "configmaps" and m["name"] == objects.ROOT_CA_CONFIGMAP:
            self._republish_root_ca(m["namespace"])
        return gone

    def _republish_root_ca(self, ns: str) -> None:
        with contextlib.suppress(errors.NotFoundError):
            if not objects.is_terminating(self.store.get("namespaces", "", ns)):
                self._publish_root_ca(ns)

    def delete_collection(self, request: Request, resource: str, ns: str | None) -> Response:
        if resource == "namespaces":
            raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                               "requested resource")
        options, requested = self._delete_options(request)
        dry = dry_run(request, options)
        items, rv = self.store.list(resource, ns, _selector(request, resource))
        deleted = []
        for obj in items:
            with contextlib.suppress(errors.NotFoundError):
                deleted.append(self._delete_one(resource, obj, requested, dry))
        return _ok({"kind": self._kind(resource) + "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(self.store.current_rv())},
                    "items": deleted})

    # -- namespace lifecycle ---------------------------------------------------------------
    def _delete_namespace(self, ns_obj: Obj, dry: bool) -> Response:
        name = ns_obj["metadata"]["name"]
        if name in objects.SYSTEM_NAMESPACES:
            raise errors.ForbiddenError(f'namespaces "{name}" is forbidden: this namespace may '
                                        "not be deleted", kind="namespaces", name=name)
        if dry:
            return _ok(objects.mark_terminating(ns_obj))
        if not objects.is_terminating(ns_obj):
            ns_obj = self.store.update("namespaces", objects.mark_terminating(ns_obj))
        self.start_finalizer(name)
        return _ok(ns_obj)

    def start_finalizer(self, name: str) -> None:
        task = self.finalizing.get(name)
        if task is None or task.done():
            self.finalizing[name] = asyncio.ensure_future(self.finalize_namespace(name))

    def resume_finalizers(self) -> None:
        """Namespaces left Terminating by a previous process finish emptying."""
        items, _ = self.store.list("namespaces", None)
        for ns in items:
            if objects.is_terminating(ns):
                self.start_finalizer(ns["metadata"]["name"])

    async def finalize_namespace(self, name: str, poll: float = 0.25) -> None:
        """Delete everything in the namespace, wait for its Pods to go, then the namespace."""
        while True:
            remaining = self._empty_namespace(name)
            if not remaining:
                break
            await asyncio.sleep(poll)
        self._empty_namespace(name)
        with contextlib.suppress(errors.NotFoundError):
            self.store.delete("namespaces", "", name)
        self.finalizing.pop(name, None)

    def _empty_namespace(self, name: str) -> int:
        """One pass: delete what can go now; returns how many objects are still going (Pods
        terminating, objects held by finalizers)."""
        remaining = 0
        for resource in objects.NAMESPACED_CONTENT:
            items, _ = self.store.list(resource, name)
            for obj in items:
                if obj["metadata"].get("deletionTimestamp"):
                    remaining += 1
                    continue
                with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
                    result = self._delete_one(resource, obj, None, False)
                    if result["metadata"].get("deletionTimestamp"):
                        remaining += 1
        return remaining

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
