from __future__ import annotations

from podhost.api import patch


def test_strategic_merge_by_name_and_directives() -> None:
    live = {"apiVersion": "v1", "kind": "Pod",
            "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
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


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                                                              "finalizers": ["a"]},
           "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080,
                               "protocol": "TCP"}],
                    "externalIPs": ["192.0.2.1"]}}


def test_service_ports_merge_by_port_from_the_schema() -> None:
    """The official Python client's test_service_apis: a patch adding port 443 keeps port 80
    (the merge key is ServicePort's `port`, not ContainerPort's `containerPort`)."""
    body = {"spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]},
            "metadata": {"finalizers": ["b"]}}
    out = patch.strategic_merge(SERVICE, body)
    assert [p["port"] for p in out["spec"]["ports"]] == [80, 443]
    assert out["metadata"]["finalizers"] == ["a", "b"]  # patchStrategy merge, no key: a set
    again = patch.strategic_merge(out, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert again["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": 9090,
                                         "protocol": "TCP"}
    # externalIPs has no patch strategy: replaced, as the API server does
    replaced = patch.strategic_merge(SERVICE, {"spec": {"externalIPs": ["192.0.2.2"]}})
    assert replaced["spec"]["externalIPs"] == ["192.0.2.2"]


def test_nested_lists_follow_their_own_keys() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
        "containers": [{"name": "c", "ports": [{"containerPort": 80}],
                        "env": [{"name": "A", "value": "1"}],
                        "args": ["x"]}]}}}}
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "ports": [{"containerPort": 443}], "env": [{"name": "B", "value": "2"}],
         "args": ["y"]}]}}}}
    (c,) = patch.strategic_merge(deploy, body)["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in c["ports"]] == [80, 443]
    assert [e["name"] for e in c["env"]] == ["A", "B"]
    assert c["args"] == ["y"]
