"""events.k8s.io/v1 Events through real kubectl: the same stored objects as core v1 Events,
converted (note/message, regarding/involvedObject, reportingController/reportingComponent)."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e


def test_events_k8s_io_v1_is_served_from_core_events(node: Node) -> None:
    name = unique("ev")
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
             "metadata": {"name": name, "namespace": "default"},
             "eventTime": "2026-12-07T23:00:00.000000Z", "reportingController": "podhost/e2e",
             "reportingInstance": "e2e-1", "action": "Testing", "reason": "Checked",
             "type": "Normal", "note": "served through events.k8s.io",
             "regarding": {"kind": "Pod", "namespace": "default", "name": "nothing",
                           "apiVersion": "v1"}}
    node.kubectl("create", "-f", "-", input=json.dumps(event))
    try:
        listed = node.kubectl("get", "events.v1.events.k8s.io", "-A").stdout
        assert "served through events.k8s.io" in listed and "pod/nothing" in listed, listed
        watched = node.kubectl("get", "events.v1.events.k8s.io", "--watch",
                               "--request-timeout=2", check=False)
        assert "served through events.k8s.io" in watched.stdout, watched
        streamed = node.kubectl("get", "events.v1.events.k8s.io", name, "--watch", "-o", "json",
                                "--request-timeout=2", check=False)
        assert '"note": "served through events.k8s.io"' in streamed.stdout, streamed
        v1 = json.loads(node.kubectl("get", "events.v1.events.k8s.io", name, "-o",
                                     "json").stdout)
        assert v1["apiVersion"] == "events.k8s.io/v1" and v1["note"] == event["note"]
        assert v1["regarding"]["name"] == "nothing"
        core = json.loads(node.kubectl("get", "events", name, "-o", "json").stdout)
        assert core["apiVersion"] == "v1" and core["message"] == event["note"]
        assert core["reportingComponent"] == "podhost/e2e"
        node.kubectl("label", "events.v1.events.k8s.io", name, "checked=yes")
        node.kubectl("patch", "events.v1.events.k8s.io", name, "--type=merge", "-p",
                     '{"note": "patched through events.k8s.io"}')
        core = json.loads(node.kubectl("get", "events", name, "-o", "json").stdout)
        assert core["message"] == "patched through events.k8s.io"
        assert core["metadata"]["labels"] == {"checked": "yes"}
        shown = node.kubectl("events", "--for", "pod/nothing").stdout
        assert "patched through events.k8s.io" in shown and "Checked" in shown, shown
        resources = node.kubectl("api-resources", "--api-group=events.k8s.io").stdout
        assert "events" in resources and "events.k8s.io/v1" in resources, resources
        bad = {**event, "metadata": {"name": unique("bad"), "namespace": "default"},
               "type": "Odd"}
        failed = node.kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
        assert failed.returncode == 1
        assert 'is invalid: type: Invalid value: "": has invalid value: Odd' in failed.stderr
    finally:
        node.kubectl("delete", "events.v1.events.k8s.io", name, "--ignore-not-found")
    gone = node.kubectl("get", "events", name, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_kubectl_events_as_test_cmd_events_sh(node: Node) -> None:
    """The steps of kubectl's own test/cmd/events.sh: a CronJob that never runs (February
    31st) is warned about, and `kubectl events` finds the warning every way it is asked."""
    ns = unique("test-events")
    node.kubectl("create", "namespace", ns)
    try:
        node.kubectl("create", "cronjob", "pi", "--schedule=59 23 31 2 *", f"--namespace={ns}",
                     "--image=busybox", "--", "true")

        def shown(*args: str) -> str:
            return node.kubectl("events", *args).stdout

        wait_for(lambda: "InvalidSchedule" in shown("-A"), 30, "the InvalidSchedule event")
        for args in (("-A",), ("-n", ns), ("-n", ns, "--for=Cronjob/pi"),
                     ("-n", ns, "--for=Cronjob/pi", "--types=Warning"),
                     ("-n", ns, "--for=Cronjob/pi", "--output=json"),
                     ("-n", ns, "--for=Cronjob/pi", "--output=yaml")):
            out = shown(*args)
            assert "Warning" in out and "InvalidSchedule" in out, (args, out)
        out = shown("-n", ns, "--for=Cronjob/pi", "--no-headers")
        assert "LAST SEEN" not in out and "Warning" in out
        assert re.search(r"Warning\s+InvalidSchedule\s+CronJob/pi\s+invalid schedule: 59 23 "
                         r"31 2 \* : time difference", out), out
        assert "InvalidSchedule" not in shown("-n", ns, "--for=Cronjob/pi", "--types=Normal")
        watched = node.kubectl("events", "-n", ns, "--for=Cronjob/pi", "--watch",
                               "--request-timeout=1", check=False)
        assert "InvalidSchedule" in watched.stdout, (watched.stdout, watched.stderr)
    finally:
        node.kubectl("delete", "namespace", ns, "--wait=false")
