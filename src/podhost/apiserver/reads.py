"""The read verbs: get, list (paged with continue tokens, as Tables on request) and watch."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from podhost.api import errors, registry
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.types import Obj
from podhost.apiserver import watchlist
from podhost.apiserver.common import (
    api_version_of,
    dumps,
    int_arg,
    kind_of,
    ok,
    selector,
    selects_all,
    wants_table,
)
from podhost.apiserver.http import Request, Response, StreamResponse
from podhost.registry import strategies
from podhost.store.sqlite import Store
from podhost.store.watch import Event

BOOKMARK_INTERVAL = 60.0
T = TypeVar("T")


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


def page(items: list[T], rv: int, limit: int | None, token: str | None,
         position: Callable[[T], str]) -> tuple[list[T], int, Obj]:
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
    """The JSON of a List whose items are already encoded, byte for byte what dumps gives
    for the same List with the decoded items."""
    head = dumps({"kind": kind + "List", "apiVersion": _api_version(kind),
                  "metadata": {"resourceVersion": str(rv), **extra}, "items": []})
    assert head.endswith(b"[]}")
    return b"".join((head[:-2], ",".join(items_json).encode(), b"]}\n"))


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _bookmark(kind: str, rv: int, initial_events_end: bool = False) -> bytes:
    return dumps({"type": "BOOKMARK", "object": watchlist.bookmark_object(
        kind, _api_version(kind), rv, initial_events_end)}) + b"\n"


def _api_version(kind: str) -> str:
    served = registry.by_kind(kind)
    return served.api_version if served is not None else "v1"


def _event_line(ev: Event, as_table: bool, first: bool, version: str = "") -> bytes:
    obj = custom_resources.for_read(ev.resource, ev.object, version)
    if as_table:
        obj = strategies.get(ev.resource).table(
            [obj], obj["metadata"].get("resourceVersion"), include_columns=first)
    return dumps({"type": ev.type, "object": obj}) + b"\n"


class Reads:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, request: Request, resource: str, ns: str, name: str,
            status_only: bool = False) -> Response:
        obj = self.store.get(resource, ns, name)
        if wants_table(request):
            return ok(strategies.get(resource).table(
                [obj], obj["metadata"].get("resourceVersion"),
                include_object=request.arg("includeObject")))
        return ok(obj)

    async def list_or_watch(self, request: Request, resource: str,
                            ns: str | None) -> Response | StreamResponse:
        predicate = selector(request, resource)
        timeout = int_arg(request, "timeoutSeconds")
        limit = int_arg(request, "limit")
        if request.flag("watch"):
            return self.watch(request, resource, ns, predicate, timeout)
        watchlist.validate(request, watch=False)
        if not wants_table(request) and selects_all(request):
            # plain JSON of every object: the stored JSON is what decoding and encoding each
            # object again would give, so it is served as it is
            rows, rv = self.store.list_json(resource, ns)
            rows, rv, extra = page(rows, rv, limit, request.arg("continue"), _row_position)
            return Response(200, list_body(kind_of(resource), rv, extra,
                                           [row[2] for row in rows]))
        items, rv = self.store.list(resource, ns, predicate)
        items, rv, extra = page(items, rv, limit, request.arg("continue"), _position)
        if wants_table(request):
            result = strategies.get(resource).table(items, rv,
                                                    include_object=request.arg("includeObject"))
            result["metadata"].update(extra)
            return ok(result)
        return ok({"kind": kind_of(resource) + "List", "apiVersion": api_version_of(resource),
                   "metadata": {"resourceVersion": str(rv), **extra}, "items": items})

    def watch(self, request: Request, resource: str, ns: str | None,
              predicate: Callable[[Obj], bool], timeout: int | None) -> StreamResponse:
        options = watchlist.watch_options(request)
        since = options.since
        try:
            watcher, backlog = self.store.watch(resource, ns, since, predicate,
                                                selective=not selects_all(request))
        except errors.GoneError as e:
            return StreamResponse(200, _one(dumps({"type": "ERROR",
                                                   "object": e.to_status()}) + b"\n"))
        initial: list[Event] = []
        initial_rv = self.store.current_rv()
        if options.initial:
            items, initial_rv = self.store.list(resource, ns, predicate)
            initial = [Event("ADDED", resource, o, initial_rv) for o in items]
        deadline = time.monotonic() + (timeout if timeout and timeout > 0 else 1800)
        bookmarks = request.flag("allowWatchBookmarks")
        as_table = wants_table(request)
        kind = kind_of(resource)
        store = self.store
        parts = request.path.split("/")  # /apis/GROUP/VERSION/...: a custom resource's version
        version = parts[3] if len(parts) > 3 and parts[1] == "apis" else ""

        async def stream() -> AsyncIterator[bytes]:
            first = True
            try:
                for ev in [*initial, *backlog]:
                    yield _event_line(ev, as_table, first, version)
                    first = False
                next_bookmark = time.monotonic()
                if options.end_bookmark:
                    yield _bookmark(kind, initial_rv, initial_events_end=True)
                    next_bookmark += BOOKMARK_INTERVAL
                while True:
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    if bookmarks and now >= next_bookmark and watcher.queue.empty():
                        yield _bookmark(kind, store.current_rv())
                        next_bookmark = now + BOOKMARK_INTERVAL
                    wait = deadline - now
                    if bookmarks:
                        wait = max(0.0, min(wait, next_bookmark - now))
                    try:
                        event = await asyncio.wait_for(watcher.queue.get(), wait)
                    except TimeoutError:
                        continue
                    if event is None:
                        return
                    yield _event_line(event, as_table, first, version)
                    first = False
            finally:
                store.unwatch(watcher)

        return StreamResponse(200, stream())
