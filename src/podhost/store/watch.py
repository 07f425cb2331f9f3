"""Watch fan-out: every change becomes an event delivered to the matching watchers.

A bounded history of recent events lets a watch resume from an older resourceVersion, as the API
server's watch cache does; older than the history means 410 Gone. The history keeps each object
as compact JSON (about 2 KiB for a Pod instead of about 11 KiB as dicts), decoded only when a
watch resumes, so that a full history costs tens of MiB rather than a few hundred. Queues never
block the writer: a watcher that falls too far behind is closed and must re-list, like a slow
client on a cluster.

A watch with a label or field selector (a selective watcher) sees changes as the API server's
watch cache sends them: an object that starts matching arrives as ADDED, one that stops matching
as DELETED (its last matching state, at the new resourceVersion). For that, a MODIFIED event
carries the object before the change; a resumed watch finds it in the history.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

HISTORY = 20000
QUEUE_LIMIT = 10000


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    object: dict[str, Any]
    rv: int
    prev: str | None = None  # MODIFIED: the object before, as stored JSON (selective watchers)


@dataclass(eq=False)
class Watcher:
    resource: str
    namespace: str | None
    predicate: Callable[[dict[str, Any]], bool]
    selective: bool = False  # a selector: changes across its boundary become ADDED/DELETED
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def view(self, event: Event, before: Callable[[], dict[str, Any] | None]) -> Event | None:
        """The event as this watcher sees it, or None; `before` gives the object before a
        MODIFIED (None when unknown: then the event stays MODIFIED when it matches); the
        event is one of the watcher's resource."""
        ns = event.object.get("metadata", {}).get("namespace")
        if self.namespace is not None and ns != self.namespace:
            return None
        now = self.predicate(event.object)
        if not self.selective or event.type != "MODIFIED":
            return event if now else None
        old = before()
        was = now if old is None else self.predicate(old)
        if now:
            return event if was else Event("ADDED", event.resource, event.object, event.rv)
        if was and old is not None:
            return Event("DELETED", event.resource, old, event.rv)
        return None

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


@dataclass(frozen=True, slots=True)
class _Past:
    """An event as the history keeps it: the object serialised."""
    type: str
    resource: str
    namespace: str | None
    name: str
    rv: int
    data: str


class Broadcaster:
    """Holds the recent history and the live watchers."""

    def __init__(self) -> None:
        self.history: collections.deque[_Past] = collections.deque(maxlen=HISTORY)
        self.by_resource: dict[str, set[Watcher]] = collections.defaultdict(set)
        self.oldest_rv = 0

    @property
    def watchers(self) -> set[Watcher]:
        """Every live watcher."""
        return set().union(*self.by_resource.values())

    def publish(self, event: Event, data: str | None = None) -> None:
        """Deliver event; data, when given, is its object already serialised as JSON."""
        if len(self.history) == self.history.maxlen:
            self.oldest_rv = self.history[0].rv
        if data is None:
            data = json.dumps(event.object, separators=(",", ":"))
        meta = event.object.get("metadata", {})
        self.history.append(_Past(event.type, event.resource, meta.get("namespace"),
                                  meta.get("name", ""), event.rv, data))
        _deliver(event, self.by_resource.get(event.resource, ()))

    def selective(self, resource: str) -> bool:
        """Whether a selective watcher of `resource` needs the object before each change."""
        return any(w.selective for w in self.by_resource.get(resource, ()))

    def backlog(self, watcher: Watcher, since_rv: int) -> list[Event] | None:
        """Events after since_rv for this watcher, or None when the history no longer reaches."""
        if since_rv < self.oldest_rv:
            return None
        last: dict[tuple[str | None, str], str] = {}  # the state before, for selective views
        out: list[Event] = []
        for past in self.history:
            if past.resource != watcher.resource or \
                    watcher.namespace not in (None, past.namespace):
                continue
            key = (past.namespace, past.name)
            prev = last.pop(key, None) if past.type == "DELETED" else last.get(key)
            if past.type != "DELETED":
                last[key] = past.data
            if past.rv > since_rv:
                event = Event(past.type, past.resource, json.loads(past.data), past.rv,
                              prev if past.type == "MODIFIED" and watcher.selective else None)
                _deliver(event, [watcher], out)
        return out

    def add(self, watcher: Watcher) -> None:
        self.by_resource[watcher.resource].add(watcher)

    def remove(self, watcher: Watcher) -> None:
        self.by_resource[watcher.resource].discard(watcher)
        watcher.closed = True


def _deliver(event: Event, watchers: Iterable[Watcher], into: list[Event] | None = None) -> None:
    """Offer each watcher its view of the event (or collect the views `into` a list); the
    object before a MODIFIED is decoded once, only when a selective watcher asks for it."""
    before: list[dict[str, Any] | None] = []

    def previous() -> dict[str, Any] | None:
        if not before:
            old = json.loads(event.prev) if event.prev is not None else None
            if old is not None:  # a DELETED view of it carries the change's resourceVersion
                old.setdefault("metadata", {})["resourceVersion"] = str(event.rv)
            before.append(old)
        return before[0]

    for w in list(watchers):
        view = w.view(event, previous)
        if view is None:
            continue
        if into is not None:
            into.append(view)
        else:
            w.offer(view)
