"""Repeated events are one Event with a count, as kubelet's EventCorrelator makes them, and
kubectl shows them as `(xN over …)`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import apply, delete, unique, wait_for

pytestmark = pytest.mark.e2e


def pod_events(node: Node, name: str) -> list[dict[str, Any]]:
    out = node.kubectl("get", "events", "-o", "json",
                       f"--field-selector=involvedObject.name={name}").stdout
    return list(json.loads(out)["items"])


def restarts(node: Node, name: str) -> int:
    pod = json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout)
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount", 0))


def test_repeated_backoff_is_one_counted_event(node: Node) -> None:
    name = unique("crashes")
    apply(node, {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}})
    try:
        def backoffs() -> list[dict[str, Any]] | None:
            found = [e for e in pod_events(node, name) if e["reason"] == "BackOff"]
            return found if found and found[0]["count"] >= 2 else None

        # two crash-loop back-offs apart (the second restart waits out the 10 s back-off)
        wait_for(lambda: restarts(node, name) >= 2, 40, "two restarts")
        found = wait_for(backoffs, 20, "a second BackOff")
        assert len(found) == 1, found
        ev = found[0]
        assert ev["message"].startswith("Back-off restarting failed container c in pod ")
        assert ev["involvedObject"]["fieldPath"] == "spec.containers{c}"
        assert ev["firstTimestamp"] <= ev["lastTimestamp"]
        # one Started per run is the same event too
        started = [e for e in pod_events(node, name) if e["reason"] == "Started"]
        assert len(started) == 1 and started[0]["count"] >= 3

        described = node.kubectl("describe", "pod", name).stdout
        events = described[described.index("\nEvents:"):]
        assert re.search(r"Warning\s+BackOff\s+\S+ \(x[2-9] over \S+\)\s+kubelet\s+"
                         r"Back-off restarting failed container c", events), events

        table = node.kubectl("get", "events", f"--field-selector=involvedObject.name={name}",
                             "-o", "wide").stdout
        header, *rows = table.splitlines()
        assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT",
                                  "SOURCE", "MESSAGE", "FIRST", "SEEN", "COUNT", "NAME"]
        backoff = [r for r in rows if " BackOff " in r]
        assert len(backoff) == 1 and backoff[0].split()[-1] == ev["metadata"]["name"]
        assert int(backoff[0].split()[-2]) >= 2

        own = node.podhost("events", "--for", f"pod/{name}").stdout
        assert re.search(rf"\(x[2-9] over \S+\)\s+Warning\s+BackOff\s+Pod/{name}\s", own), own
    finally:
        delete(node, name)
