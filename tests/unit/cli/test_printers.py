from datetime import datetime, timezone

import pytest

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


@pytest.mark.parametrize("seconds,text", [
    (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
    (10 * 3600, "10h"), (50 * 3600, "2d2h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert printers.human_duration(seconds) == text


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
