"""Events as kubelet records them: reason, message, count, source `kubelet` on this node.

Repeated events are correlated as client-go's EventCorrelator does (tools/record/
events_cache.go), minus its spam filter:

* an event equal to an earlier one in source, involvedObject (kind, namespace, name, uid,
  apiVersion, fieldPath), type, reason and message (`event_key`, client-go's getEventKey)
  updates that earlier Event: `count` + 1, `lastTimestamp` now, same name and
  `firstTimestamp`. If it was deleted meanwhile, it is created again under that name with
  the new count (client-go's recordEvent falls back from PATCH to POST the same way);
* when 10 events differing only in message arrive about one object with the same source,
  type and reason, each less than 10 minutes after the previous one (`aggregate_key`,
  EventAggregatorByReasonFunc), the next ones go to one Event whose message is
  `(combined from similar events): <latest message>`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, Protocol, TypeVar

from podhost.api import errors, meta
from podhost.api.types import Obj

log = logging.getLogger(__name__)

MAX_LRU_CACHE_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600
COMBINED_PREFIX = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")


class EventStore(Protocol):
    """The part of podhost.store.sqlite.Store the recorder writes through."""

    def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    def create(self, resource: str, obj: Obj) -> Obj: ...

    def update(self, resource: str, obj: Obj, *, expected_rv: str | None = None) -> Obj: ...


class LRU(Generic[K, V]):
    """groupcache's lru.Cache: Get refreshes an entry, Add evicts the least recently used."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def add(self, key: K, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def __len__(self) -> int:
        return len(self.items)


def event_key(ev: Obj) -> tuple[str, ...]:
    """getEventKey: what makes two events the same event."""
    src, obj = ev.get("source") or {}, ev.get("involvedObject") or {}
    return (src.get("component") or "", src.get("host") or "", obj.get("kind") or "",
            obj.get("namespace") or "", obj.get("name") or "", obj.get("fieldPath") or "",
            obj.get("uid") or "", obj.get("apiVersion") or "", ev.get("type") or "",
            ev.get("reason") or "", ev.get("message") or "")


def aggregate_key(ev: Obj) -> tuple[tuple[str, ...], str]:
    """EventAggregatorByReasonFunc: the group of similar events (no fieldPath, no message)
    and the event's key within it (its message)."""
    src, obj = ev.get("source") or {}, ev.get("involvedObject") or {}
    group = (src.get("component") or "", src.get("host") or "", obj.get("kind") or "",
             obj.get("namespace") or "", obj.get("name") or "", obj.get("uid") or "",
             obj.get("apiVersion") or "", ev.get("type") or "", ev.get("reason") or "",
             ev.get("reportingComponent") or "", ev.get("reportingInstance") or "")
    return ("aggregate", *group), ev.get("message") or ""


@dataclass
class _AggregateRecord:
    local_keys: set[str] = field(default_factory=set)
    last: float = float("-inf")


@dataclass
class _EventLog:
    """eventLog: what the node last wrote for one event key."""
    count: int
    first_timestamp: str
    name: str


class Correlator:
    """EventAggregator + eventLogger: turns a new event into the Event object to write and
    whether it updates an existing one. Pure; the clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 cache_size: int = MAX_LRU_CACHE_ENTRIES,
                 max_events: int = AGGREGATE_MAX_EVENTS,
                 max_interval: float = AGGREGATE_INTERVAL_SECONDS) -> None:
        self.clock, self.max_events, self.max_interval = clock, max_events, max_interval
        self.aggregates: LRU[tuple[str, ...], _AggregateRecord] = LRU(cache_size)
        self.logs: LRU[tuple[str, ...], _EventLog] = LRU(cache_size)

    def aggregate(self, ev: Obj) -> tuple[Obj, tuple[str, ...]]:
        """EventAggregate: the event itself keyed by event_key, or, past the threshold of
        similar events, a combined event keyed by its group."""
        now = self.clock()
        group, local = aggregate_key(ev)
        record = self.aggregates.get(group)
        if record is None or now - record.last > self.max_interval:
            record = _AggregateRecord()
        record.local_keys.add(local)
        record.last = now
        self.aggregates.add(group, record)
        if len(record.local_keys) < self.max_events:
            return ev, event_key(ev)
        record.local_keys.pop()  # do not grow the set past the threshold
        stamp = _rfc3339(now)
        combined: Obj = {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{ev['involvedObject']['name']}.{int(now * 1e9):x}",
                         "namespace": ev["metadata"].get("namespace")},
            "involvedObject": ev["involvedObject"], "reason": ev.get("reason"),
            "message": COMBINED_PREFIX + (ev.get("message") or ""),
            "source": ev.get("source"), "firstTimestamp": stamp, "lastTimestamp": stamp,
            "count": 1, "type": ev.get("type"), "eventTime": None,
            "reportingComponent": ev.get("reportingComponent", ""),
            "reportingInstance": ev.get("reportingInstance", "")}
        return combined, group

    def observe(self, ev: Obj, key: tuple[str, ...]) -> tuple[Obj, bool]:
        """eventObserve: a copy of ev carrying the name, firstTimestamp and count of the
        earlier occurrence under key, and whether there was one (update, not create)."""
        ev = copy.deepcopy(ev)
        last = self.logs.get(key)
        if last is not None and last.count > 0:
            ev["metadata"]["name"] = last.name
            ev["firstTimestamp"] = last.first_timestamp
            ev["count"] = last.count + 1
        self.logs.add(key, _EventLog(int(ev.get("count") or 1), ev.get("firstTimestamp") or "",
                                     ev["metadata"]["name"]))
        return ev, last is not None and last.count > 0

    def correlate(self, ev: Obj) -> tuple[Obj, bool, tuple[str, ...]]:
        """EventCorrelate without the spam filter: (event to write, update?, cache key)."""
        aggregated, key = self.aggregate(ev)
        observed, update = self.observe(aggregated, key)
        return observed, update, key

    def forget(self, key: tuple[str, ...]) -> None:
        """After a failed write: the next occurrence starts a new Event."""
        self.logs.items.pop(key, None)


def _rfc3339(seconds: float) -> str:
    return meta.rfc3339(datetime.fromtimestamp(seconds, timezone.utc))


class Recorder:
    def __init__(self, store: EventStore, node_name: str, component: str = "kubelet",
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.node_name, self.component = store, node_name, component
        self.clock = clock
        self.correlator = Correlator(clock)
        self.lock = threading.Lock()

    def make_event(self, pod: Obj, kind: str, reason: str, message: str,
                   field_path: str | None = None, component: str | None = None) -> Obj:
        """The Event as client-go's recorder makes it, before correlation."""
        m = pod["metadata"]
        t = self.clock()
        now = _rfc3339(t)
        involved: Obj = {"kind": "Pod", "namespace": m.get("namespace"), "name": m["name"],
                         "uid": m.get("uid"), "apiVersion": "v1",
                         "resourceVersion": m.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        return {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{m['name']}.{int(t * 1e9):x}",
                         "namespace": m.get("namespace")},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component or self.component, "host": self.node_name},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": kind,
            "eventTime": None, "reportingComponent": component or self.component,
            "reportingInstance": self.node_name}

    def event(self, pod: Obj, kind: str, reason: str, message: str,
              field_path: str | None = None, component: str | None = None) -> None:
        event = self.make_event(pod, kind, reason, message, field_path, component)
        with self.lock:
            observed, update, key = self.correlator.correlate(event)
            try:
                self._write(observed, update)
            except errors.ApiError as e:
                self.correlator.forget(key)
                log.warning("could not record event %s for %s: %s", reason,
                            pod["metadata"]["name"], e)

    def _write(self, ev: Obj, update: bool) -> None:
        """PATCH count, lastTimestamp and message of the existing Event, or POST it when it is
        new or no longer stored (client-go's recordEvent)."""
        ns, name = ev["metadata"].get("namespace") or "", ev["metadata"]["name"]
        if update:
            try:
                current = self.store.get("events", ns, name)
                current.update(count=ev["count"], lastTimestamp=ev["lastTimestamp"],
                               message=ev["message"])
                self.store.update("events", current)
                return
            except errors.NotFoundError:
                pass
        created = copy.deepcopy(ev)
        created["metadata"].pop("resourceVersion", None)
        created["metadata"].update(creationTimestamp=ev["lastTimestamp"],
                                   uid=meta.new_uid())
        self.store.create("events", created)

    def normal(self, pod: Obj, reason: str, message: str, field_path: str | None = None) -> None:
        self.event(pod, "Normal", reason, message, field_path)

    def warning(self, pod: Obj, reason: str, message: str, field_path: str | None = None) -> None:
        self.event(pod, "Warning", reason, message, field_path)


def container_field_path(name: str, init: bool, ephemeral: bool = False) -> str:
    if ephemeral:
        return f"spec.ephemeralContainers{{{name}}}"
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"
