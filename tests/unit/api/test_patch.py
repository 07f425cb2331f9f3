from __future__ import annotations

from podhost.api import patch


def test_strategic_merge_by_name_and_directives() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
            "metadata": {"labels": {"app": "one", "tier": "web"}}}
    body = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                     "containers": [{"name": "b", "image": "z"}]},
            "metadata": {"labels": {"app": "two", "tier": None}}}
    out = patch.strategic_merge(live, body)
    assert out["spec"]["containers"] == [{"name": "a", "image": "x"}, {"name": "b", "image": "z"}]
    assert out["metadata"]["labels"] == {"app": "two"}
    deleted = patch.strategic_merge(live, {"spec": {"containers": [{"name": "a",
                                                                    "$patch": "delete"}]}})
    assert deleted["spec"]["containers"] == [{"name": "b", "image": "y"}]


def test_merge_and_json_patch() -> None:
    assert patch.merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == \
        {"a": 1, "b": {"d": 3}}
    doc = {"metadata": {"labels": {"x": "1"}}, "spec": {"list": [1, 2]}}
    out = patch.json_patch(doc, [{"op": "add", "path": "/metadata/labels/y", "value": "2"},
                                 {"op": "remove", "path": "/spec/list/0"},
                                 {"op": "replace", "path": "/spec/list/0", "value": 9}])
    assert out == {"metadata": {"labels": {"x": "1", "y": "2"}}, "spec": {"list": [9]}}
