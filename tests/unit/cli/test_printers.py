from datetime import datetime, timedelta, timezone

import pytest

from podhost.api import meta
from podhost.cli import printers

TABLE = {
    "kind": "Table",
    "columnDefinitions": [
        {"name": "Name", "type": "string", "priority": 0},
        {"name": "Ready", "type": "string", "priority": 0},
        {"name": "Status", "type": "string", "priority": 0},
        {"name": "Restarts", "type": "string", "priority": 0},
        {"name": "Age", "type": "string", "priority": 0},
        {"name": "IP", "type": "string", "priority": 1},
    ],
    "rows": [
        {"cells": ["data-sharing-pod", "2/2", "Running", "0", "5m", "10.88.0.2"],
         "object": {"metadata": {"name": "data-sharing-pod", "namespace": "default",
                                 "labels": {"app": "demo", "a": "b"}}}},
        {"cells": ["x", "0/1", "Pending", 0, "2s", None],
         "object": {"metadata": {"name": "x", "namespace": "other"}}},
    ],
}


def test_table_layout_matches_kubectl() -> None:
    out = printers.layout(printers.table_rows(TABLE))
    assert out == ("NAME               READY   STATUS    RESTARTS   AGE\n"
                   "data-sharing-pod   2/2     Running   0          5m\n"
                   "x                  0/1     Pending   0          2s\n")


def test_wide_namespaces_and_labels() -> None:
    rows = printers.table_rows(TABLE, wide=True, all_namespaces=True, show_labels=True)
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "LABELS"]
    assert rows[1][0] == "default" and rows[1][-1] == "a=b,app=demo"
    assert rows[2][-2:] == ["<none>", "<none>"]


def test_no_headers() -> None:
    assert len(printers.table_rows(TABLE, headers=False)) == 2


DAY, YEAR = 86400, 365 * 86400


@pytest.mark.parametrize("seconds,text", [
    (-3, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (-0.5, "0s"), (0, "0s"),
    (5, "5s"), (119.9, "119s"), (120, "2m"), (125, "2m5s"), (599, "9m59s"), (600, "10m"),
    (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (8 * 3600 - 1, "7h59m"),
    (8 * 3600, "8h"), (10 * 3600, "10h"), (48 * 3600 - 1, "47h"), (48 * 3600, "2d"),
    (50 * 3600, "2d2h"), (8 * DAY - 1, "7d23h"), (8 * DAY, "8d"), (400 * DAY, "400d"),
    (2 * YEAR - 1, "729d"), (2 * YEAR, "2y"), (2 * YEAR + DAY, "2y1d"), (3 * YEAR, "3y"),
    (7 * YEAR + 364 * DAY, "7y364d"), (8 * YEAR, "8y"), (8 * YEAR + 100 * DAY, "8y"),
])
def test_age_follows_kubectls_human_duration(seconds: float, text: str) -> None:
    """apimachinery's duration.HumanDuration, range by range (the same function as the API
    server's AGE cells)."""
    assert meta.human_age(seconds) == text
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    created = (now - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert printers.age(created, now) == text


def test_age() -> None:
    now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=timezone.utc)
    assert printers.age("2026-01-01T00:00:00Z", now) == "60s"
    assert printers.age(None, now) == "<unknown>"


POD = {"metadata": {"name": "p", "labels": {"app": "demo"}},
       "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]},
       "status": {"phase": "Running"}}


@pytest.mark.parametrize("template,out", [
    ("{.metadata.name}", "p"),
    (".metadata.name", "p"),
    ("{.spec.containers[*].name}", "a b"),
    ("{.spec.containers[1].image}", "busybox"),
    ("{.spec.containers[-1].name}", "b"),
    ('{.spec.containers[?(@.name=="b")].image}', "busybox"),
    ("{.metadata.labels.app}", "demo"),
    ("{.metadata.labels['app']}", "demo"),
    ('{range .spec.containers[*]}{.name}={.image}{"\\n"}{end}', "a=nginx\nb=busybox\n"),
    ("name: {.metadata.name}, phase: {.status.phase}", "name: p, phase: Running"),
    ("{.missing}", ""),
    ("{..image}", "nginx busybox"),
])
def test_jsonpath(template: str, out: str) -> None:
    assert printers.jsonpath(template, POD) == out


def test_jsonpath_error() -> None:
    with pytest.raises(printers.JsonPathError):
        printers.jsonpath("{.spec.containers[}", POD)


def test_yaml_and_json() -> None:
    assert printers.to_yaml({"b": 1, "a": [1]}) == "a:\n- 1\nb: 1\n"
    assert printers.to_json({"a": 1}) == '{\n    "a": 1\n}\n'
