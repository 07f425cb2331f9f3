"""YAML to JSON values as sigs.k8s.io/yaml does it."""

from __future__ import annotations

import json

from podhost import yamljson


def test_timestamps_stay_strings_and_keys_become_strings() -> None:
    doc = yamljson.load("data:\n  1: one\n  on: yes\n  ~: nothing\n  1.0: f\n"
                        "  day: 2020-01-01\n  at: 2001-12-14T21:59:43.10-05:00\n")
    assert doc == {"data": {"1": "f", "true": True, "null": "nothing",
                            "day": "2020-01-01", "at": "2001-12-14T21:59:43.10-05:00"}}
    json.dumps(doc)


def test_load_all_keeps_documents_in_order() -> None:
    assert list(yamljson.load_all("a: 1\n---\n---\nb: 2020-01-01\n")) == [
        {"a": 1}, None, {"b": "2020-01-01"}]
