"""Watch fan-out: every change becomes an event delivered to the matching watchers.

A bounded history of recent events lets a watch resume from an older resourceVersion, as the API
server's watch cache does; older than the history means 410 Gone. The history keeps each object
as compact JSON (about 2 KiB for a Pod instead of about 11 KiB as dicts), decoded only when a
watch resumes, so that a full history costs tens of MiB rather than a few hundred. Queues never
block the writer: a watcher that falls too far behind is closed and must re-list, like a slow
client on a cluster.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
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


@dataclass(eq=False)
class Watcher:
    resource: str
    namespace: str | None
    predicate: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def wants(self, event: Event) -> bool:
        if event.resource != self.resource:
            return False
        ns = event.object.get("metadata", {}).get("namespace")
        return (self.namespace is None or ns == self.namespace) and self.predicate(event.object)

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
    rv: int
    data: str

    def event(self) -> Event:
        return Event(self.type, self.resource, json.loads(self.data), self.rv)


class Broadcaster:
    """Holds the recent history and the live watchers."""

    def __init__(self) -> None:
        self.history: collections.deque[_Past] = collections.deque(maxlen=HISTORY)
        self.watchers: set[Watcher] = set()
        self.oldest_rv = 0

    def publish(self, event: Event, data: str | None = None) -> None:
        """Deliver event; data, when given, is its object already serialised as JSON."""
        if len(self.history) == self.history.maxlen:
            self.oldest_rv = self.history[0].rv
        if data is None:
            data = json.dumps(event.object, separators=(",", ":"))
        ns = event.object.get("metadata", {}).get("namespace")
        self.history.append(_Past(event.type, event.resource, ns, event.rv, data))
        for w in list(self.watchers):
            if w.wants(event):
                w.offer(event)

    def backlog(self, watcher: Watcher, since_rv: int) -> list[Event] | None:
        """Events after since_rv for this watcher, or None when the history no longer reaches."""
        if since_rv < self.oldest_rv:
            return None
        events = (past.event() for past in self.history if past.rv > since_rv
                  and past.resource == watcher.resource
                  and watcher.namespace in (None, past.namespace))
        return [e for e in events if watcher.wants(e)]

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        watcher.closed = True
