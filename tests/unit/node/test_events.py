"""Event correlation as client-go's EventCorrelator does it: repeats of one event update it
(count, lastTimestamp), similar events are combined past 10 in 10 minutes; and how kubectl's
describe/events and the server-side Table show the result."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from podhost.api import errors, table
from podhost.cli import printers
from podhost.cli.verbs.describe import events_lines
from podhost.cli.verbs.objects import events_rows
from podhost.node.events import COMBINED_PREFIX, LRU, Correlator, Recorder, event_key
from podhost.store.sqlite import Store

Obj = dict[str, Any]
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


class FakeStore:
    """Events by (namespace, name), with the Store's errors and call log."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.calls: list[tuple[str, str]] = []
        self.rv = 0

    def _put(self, obj: Obj) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = \
            copy.deepcopy(obj)
        return obj

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        try:
            return copy.deepcopy(self.objects[(namespace, name)])
        except KeyError:
            raise errors.NotFoundError.of(resource, name) from None

    def create(self, resource: str, obj: Obj) -> Obj:
        self.calls.append(("create", obj["metadata"]["name"]))
        if (obj["metadata"]["namespace"], obj["metadata"]["name"]) in self.objects:
            raise errors.AlreadyExistsError.of(resource, obj["metadata"]["name"])
        return self._put(obj)

    def update(self, resource: str, obj: Obj, *, expected_rv: str | None = None) -> Obj:
        self.calls.append(("update", obj["metadata"]["name"]))
        if (obj["metadata"]["namespace"], obj["metadata"]["name"]) not in self.objects:
            raise errors.NotFoundError.of(resource, obj["metadata"]["name"])
        return self._put(obj)

    def events(self) -> list[Obj]:
        return list(self.objects.values())


def pod(name: str = "p", uid: str = "uid-1") -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid,
                         "resourceVersion": "7"}}


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def recorder(store: FakeStore, clock: Clock) -> Recorder:
    return Recorder(store, "node1", clock=clock)


BACKOFF = "Back-off restarting failed container c in pod p_default(uid-1)"


def test_repeated_event_updates_one_object(recorder: Recorder, store: FakeStore,
                                           clock: Clock) -> None:
    for _ in range(3):
        recorder.warning(pod(), "BackOff", BACKOFF, "spec.containers{c}")
        clock.tick(20)
    [ev] = store.events()
    assert ev["count"] == 3
    assert ev["firstTimestamp"] == stamp(T0)
    assert ev["lastTimestamp"] == stamp(T0 + 40)
    assert ev["metadata"]["name"] == f"p.{int(T0 * 1e9):x}"
    assert ev["metadata"]["creationTimestamp"] == stamp(T0)
    assert ev["message"] == BACKOFF and ev["reason"] == "BackOff" and ev["type"] == "Warning"
    assert ev["involvedObject"]["fieldPath"] == "spec.containers{c}"
    assert ev["source"] == {"component": "kubelet", "host": "node1"}
    assert [c for c, _ in store.calls] == ["create", "update", "update"]


@pytest.mark.parametrize("change", [
    {"message": "other message"}, {"reason": "Failed"}, {"field_path": "spec.containers{d}"},
    {"uid": "uid-2"}, {"kind": "Normal"}, {"component": "default-scheduler"}])
def test_events_differing_in_key_are_separate(recorder: Recorder, store: FakeStore,
                                              clock: Clock, change: Obj) -> None:
    recorder.event(pod(), "Warning", "BackOff", BACKOFF, "spec.containers{c}")
    clock.tick(1)
    args: Obj = {"kind": "Warning", "reason": "BackOff", "message": BACKOFF,
                 "field_path": "spec.containers{c}", "uid": "uid-1", "component": None}
    args.update(change)
    uid = args.pop("uid")
    recorder.event(pod(uid=uid), **args)
    assert sorted(e["count"] for e in store.events()) == [1, 1]


def test_pod_resource_version_is_not_part_of_the_key(recorder: Recorder,
                                                     store: FakeStore) -> None:
    recorder.normal(pod(), "Pulled", "already present")
    newer = pod()
    newer["metadata"]["resourceVersion"] = "99"
    recorder.normal(newer, "Pulled", "already present")
    [ev] = store.events()
    assert ev["count"] == 2 and ev["involvedObject"]["resourceVersion"] == "7"


def test_deleted_event_is_created_again(recorder: Recorder, store: FakeStore,
                                        clock: Clock) -> None:
    recorder.warning(pod(), "BackOff", BACKOFF)
    clock.tick(10)
    recorder.warning(pod(), "BackOff", BACKOFF)
    [name] = [n for _, n in store.objects]
    store.objects.clear()  # kubectl delete events --all
    clock.tick(10)
    recorder.warning(pod(), "BackOff", BACKOFF)
    [ev] = store.events()
    # client-go's recordEvent: the PATCH gets 404, so it POSTs the observed event as it is
    assert ev["metadata"]["name"] == name and ev["count"] == 3
    assert ev["firstTimestamp"] == stamp(T0) and ev["lastTimestamp"] == stamp(T0 + 20)
    clock.tick(10)
    recorder.warning(pod(), "BackOff", BACKOFF)
    assert [e["count"] for e in store.events()] == [4]


def test_failed_write_starts_over(recorder: Recorder, store: FakeStore, clock: Clock) -> None:
    def broken(resource: str, obj: Obj) -> Obj:
        raise errors.ApiError("disk full")
    real = store.create
    store.create = broken  # type: ignore[method-assign]
    recorder.warning(pod(), "BackOff", BACKOFF)  # logged, not raised
    store.create = real  # type: ignore[method-assign]
    clock.tick(1)
    recorder.warning(pod(), "BackOff", BACKOFF)
    assert [e["count"] for e in store.events()] == [1]


def test_similar_events_are_combined_after_ten(recorder: Recorder, store: FakeStore,
                                               clock: Clock) -> None:
    for i in range(9):
        recorder.warning(pod(), "Unhealthy", f"Liveness probe failed: try {i}")
        clock.tick(1)
    assert len(store.events()) == 9
    recorder.warning(pod(), "Unhealthy", "Liveness probe failed: try 9")
    clock.tick(1)
    recorder.warning(pod(), "Unhealthy", "Liveness probe failed: try 10")
    events = store.events()
    assert len(events) == 10
    combined = [e for e in events if e["message"].startswith(COMBINED_PREFIX)]
    assert len(combined) == 1
    assert combined[0]["message"] == COMBINED_PREFIX + "Liveness probe failed: try 10"
    assert combined[0]["count"] == 2
    assert combined[0]["firstTimestamp"] == stamp(T0 + 9)
    assert combined[0]["lastTimestamp"] == stamp(T0 + 10)


def test_similar_events_far_apart_are_not_combined(recorder: Recorder, store: FakeStore,
                                                   clock: Clock) -> None:
    for i in range(12):
        recorder.warning(pod(), "Unhealthy", f"Liveness probe failed: try {i}")
        clock.tick(601)
    assert len(store.events()) == 12
    assert not any(e["message"].startswith(COMBINED_PREFIX) for e in store.events())


def test_similar_events_of_different_reasons_are_not_combined(recorder: Recorder,
                                                              store: FakeStore) -> None:
    for i in range(12):
        recorder.warning(pod(), f"Reason{i % 2}", f"message {i}")
    assert not any(e["message"].startswith(COMBINED_PREFIX) for e in store.events())


def test_correlator_keys_and_lru() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.add("a", 1)
    lru.add("b", 2)
    assert lru.get("a") == 1
    lru.add("c", 3)  # evicts b, the least recently used
    assert lru.get("b") is None and lru.get("a") == 1 and len(lru) == 2

    clock = Clock()
    c = Correlator(clock, cache_size=1)
    ev = Recorder(FakeStore(), "n", clock=clock).make_event(pod(), "Normal", "Pulled", "m")
    other = copy.deepcopy(ev)
    other["message"] = "n"
    assert event_key(ev) != event_key(other)
    assert c.correlate(ev)[1] is False
    assert c.correlate(ev)[1] is True
    c.correlate(other)  # evicts ev's log: the next ev is a new Event
    assert c.correlate(ev)[1] is False


def test_recorder_on_the_sqlite_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    clock = Clock()
    rec = Recorder(store, "node1", clock=clock)
    for _ in range(3):
        rec.warning(pod(), "BackOff", BACKOFF, "spec.containers{c}")
        clock.tick(15)
    items, _ = store.list("events", "default")
    assert [(e["count"], e["firstTimestamp"], e["lastTimestamp"]) for e in items] == \
        [(3, stamp(T0), stamp(T0 + 30))]
    store.delete("events", "default", items[0]["metadata"]["name"])
    rec.warning(pod(), "BackOff", BACKOFF, "spec.containers{c}")
    items, _ = store.list("events", "default")
    assert [e["count"] for e in items] == [4]
    store.close()


# ---- display ---------------------------------------------------------------------------

NOW = datetime.fromtimestamp(T0 + 100, timezone.utc)


def stored(count: int, first: float, last: float, **extra: Any) -> Obj:
    ev: Obj = {"metadata": {"name": "p.17", "namespace": "default"},
               "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default",
                                  "fieldPath": "spec.containers{c}"},
               "type": "Warning", "reason": "BackOff", "message": BACKOFF + "\n",
               "source": {"component": "kubelet", "host": "node1"},
               "firstTimestamp": stamp(first), "lastTimestamp": stamp(last), "count": count,
               "eventTime": None}
    ev.update(extra)
    return ev


def test_event_interval_like_kubectl() -> None:
    assert printers.event_interval(stored(3, T0 + 60, T0 + 90), NOW) == "10s (x3 over 40s)"
    assert printers.event_interval(stored(1, T0 + 60, T0 + 60), NOW) == "40s"
    series = stored(0, T0, T0, firstTimestamp=None, lastTimestamp=None,
                    eventTime="2023-11-14T22:13:20.000000Z",
                    series={"count": 5, "lastObservedTime": "2023-11-14T22:14:50.000000Z"})
    assert printers.event_interval(series, NOW) == "10s (x5 over 100s)"


def test_describe_and_events_show_counts() -> None:
    evs = [stored(1, T0, T0, reason="Scheduled", type="Normal", message="assigned",
                  source={"component": "default-scheduler"}),
           stored(2, time_now() - 30, time_now() - 5)]
    lines = events_lines(evs)
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert "(x2 over 30s)" in lines[4] and lines[4].split()[:3] == ["Warning", "BackOff", "5s"]
    assert lines[4].rstrip().endswith(BACKOFF)
    rows = events_rows(evs, False)
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[2] == ["5s (x2 over 30s)", "Warning", "BackOff", "Pod/p", BACKOFF]


def time_now() -> float:
    return datetime.now(timezone.utc).timestamp()


def test_event_table_cells_like_printEvent() -> None:
    cells = table.event_cells(stored(3, T0 + 60, T0 + 90), NOW)
    assert cells == ["10s", "Warning", "BackOff", "pod/p", "spec.containers{c}",
                     "kubelet, node1", BACKOFF, "40s", 3, "p.17"]
    new_api = stored(0, T0, T0, firstTimestamp=None, lastTimestamp=None, source={},
                     eventTime="2023-11-14T22:14:20.000000Z", reportingComponent="kubelet",
                     reportingInstance="node2")
    cells = table.event_cells(new_api, NOW)
    assert (cells[0], cells[5], cells[7], cells[8]) == ("40s", "kubelet, node2", "40s", 1)
    names = [c["name"] for c in table.column_definitions(table.EVENT_COLUMNS)]
    assert names == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message",
                     "First Seen", "Count", "Name"]
    assert [c["priority"] for c in table.column_definitions(table.EVENT_COLUMNS)] == \
        [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]
    assert table.column_definitions(table.EVENT_COLUMNS)[-1]["format"] == "name"


def test_timestamps_are_utc_seconds() -> None:
    assert stamp(T0) == "2023-11-14T22:13:20Z"
    assert NOW - datetime.fromtimestamp(T0, timezone.utc) == timedelta(seconds=100)


def test_apply_wait_prints_each_occurrence() -> None:
    from podhost.cli.verbs.progress import Follower
    f = Follower("pod/p")
    ev = stored(1, T0, T0, metadata={"name": "p.17", "uid": "u"})
    assert f.changes({}, [ev]) == [f"  BackOff: {BACKOFF}\n"]
    assert f.changes({}, [ev]) == []
    assert f.changes({}, [dict(ev, count=2)]) == [f"  BackOff: {BACKOFF}\n"]
