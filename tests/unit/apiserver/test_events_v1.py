"""events.k8s.io/v1 Events: the stored core v1 Events converted both ways, the strict
creation rules, and the group in discovery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from podhost.apiserver import eventsv1
from tests.unit.apiserver.helpers import call, make_api

CORE = "/api/v1/namespaces/default/events"
V1 = "/apis/events.k8s.io/v1/namespaces/default/events"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
POD = {"kind": "Pod", "namespace": "default", "name": "web", "apiVersion": "v1"}


def v1_event(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2026-12-07T23:00:00.000000Z", "reportingController": "podhost/test",
            "reportingInstance": "node-1", "action": "Pulling", "reason": "Pulled",
            "type": "Normal", "note": "pulled the image", "regarding": POD, **fields}


def test_conversion_both_ways() -> None:
    event = v1_event(related={"kind": "Node", "name": "n"},
                     series={"count": 2, "lastObservedTime": "2026-12-07T23:01:00.000000Z"})
    core = eventsv1.to_core(event)
    assert core == {"kind": "Event", "apiVersion": "v1", "metadata": event["metadata"],
                    "message": "pulled the image", "involvedObject": POD,
                    "reportingComponent": "podhost/test", "reportingInstance": "node-1",
                    "related": {"kind": "Node", "name": "n"}, "action": "Pulling",
                    "reason": "Pulled", "type": "Normal",
                    "eventTime": "2026-12-07T23:00:00.000000Z", "series": event["series"]}
    assert eventsv1.to_v1(core) == event
    legacy = {"kind": "Event", "apiVersion": "v1", "metadata": {"name": "x"},
              "involvedObject": POD, "message": "m", "reason": "Started", "type": "Normal",
              "source": {"component": "kubelet", "host": "n"}, "count": 3,
              "firstTimestamp": "2026-12-07T22:00:00Z", "lastTimestamp": "2026-12-07T23:00:00Z",
              "reportingComponent": "", "eventTime": None}
    assert eventsv1.to_v1(legacy) == {
        "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {"name": "x"},
        "regarding": POD, "note": "m", "reason": "Started", "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "n"}, "deprecatedCount": 3,
        "deprecatedFirstTimestamp": "2026-12-07T22:00:00Z",
        "deprecatedLastTimestamp": "2026-12-07T23:00:00Z", "eventTime": None}


def test_strict_create_validation() -> None:
    assert eventsv1.validate_create(eventsv1.to_core(v1_event())) == []
    bad = v1_event(type="Odd", deprecatedCount=2, series={"count": 1}, action="")
    del bad["reportingInstance"]
    assert [str(e) for e in eventsv1.validate_create(eventsv1.to_core(bad))] == [
        "reportingInstance: Required value", "action: Required value",
        'series.count: Invalid value: "": should be at least 2',
        "series.lastObservedTime: Required value",
        'type: Invalid value: "": has invalid value: Odd',
        'count: Invalid value: "": needs to be unset']
    # without an eventTime only the legacy namespace rule applies before the strict ones
    old = eventsv1.to_core(v1_event(eventTime=None, regarding={**POD, "namespace": "other"}))
    assert [str(e) for e in eventsv1.validate_create(old)] == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
        "eventTime: Required value"]


def test_served_from_the_core_store(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, created = await call(api, "POST", V1, v1_event())
        assert code == 201 and created["apiVersion"] == "events.k8s.io/v1"
        assert created["note"] == "pulled the image" and created["regarding"] == POD
        code, core = await call(api, "GET", f"{CORE}/web.1")
        assert code == 200 and core["message"] == "pulled the image"
        assert core["reportingComponent"] == "podhost/test"
        code, listed = await call(api, "GET", V1)
        assert listed["kind"] == "EventList" and listed["apiVersion"] == "events.k8s.io/v1"
        assert [i["note"] for i in listed["items"]] == ["pulled the image"]
        code, table = await call(api, "GET", V1, headers={"accept": TABLE})
        assert code == 200 and table["kind"] == "Table" and len(table["rows"]) == 1
        code, status = await call(api, "POST", V1, v1_event(metadata={"name": "bad"},
                                                             reason=""))
        assert code == 422 and status["message"] == (
            'Event.events.k8s.io "bad" is invalid: reason: Required value')
        code, patched = await call(api, "PATCH", f"{V1}/web.1", {"note": "patched"},
                                   headers={"content-type": "application/merge-patch+json"})
        assert code == 200 and patched["note"] == "patched"
        assert patched["apiVersion"] == "events.k8s.io/v1"
        code, core = await call(api, "GET", f"{CORE}/web.1")
        assert core["message"] == "patched" and core["reason"] == "Pulled"
        code, _ = await call(api, "PATCH", f"{V1}/web.1", {"note": "x"},
                             headers={"content-type": "application/apply-patch+yaml"})
        assert code == 415
        code, _ = await call(api, "PATCH", f"{V1}/none", {"note": "x"},
                             headers={"content-type": "application/merge-patch+json"})
        assert code == 404
        code, _ = await call(api, "DELETE", f"{V1}/web.1")
        assert code == 200
        code, _ = await call(api, "GET", f"{CORE}/web.1")
        assert code == 404
        code, resources = await call(api, "GET", "/apis/events.k8s.io/v1")
        assert [r["name"] for r in resources["resources"]] == ["events"]
    asyncio.run(go())


def test_watch_lines_are_converted() -> None:
    line = json.dumps({"type": "ADDED", "object": eventsv1.to_core(v1_event())}).encode()
    assert json.loads(eventsv1._watch_line(line))["object"] == v1_event()
    mark = json.dumps({"type": "BOOKMARK", "object": {
        "kind": "Event", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}}).encode()
    assert json.loads(eventsv1._watch_line(mark))["object"]["apiVersion"] == "events.k8s.io/v1"
