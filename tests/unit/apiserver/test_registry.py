"""Resources of named API groups: discovery, routing and wire versions come from the registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.api import registry
from podhost.apiserver import discovery
from tests.unit.apiserver.helpers import call, make_api

# a group of the test's own, with the ConfigMap schema (any core kind would do)
WIDGETS = registry.ResourceType("widgets", "widget", "ConfigMap", group="example.podhost.io",
                                short_names=("wd",), categories=("all",),
                                definition_package="io.k8s.api.core.v1.")


@pytest.fixture
def widgets() -> Iterator[None]:
    saved = dict(registry._BY_NAME)
    del registry._BY_NAME["configmaps"]  # its kind is the widgets' here
    registry.register(WIDGETS)
    try:
        yield
    finally:
        registry._BY_NAME.clear()
        registry._BY_NAME.update(saved)


def test_core_discovery_lists_every_core_resource() -> None:
    names = [r["name"] for r in discovery.api_resource_list()["resources"]]
    assert names[:7] == ["pods", "namespaces", "events", "configmaps", "secrets",
                         "serviceaccounts", "nodes"]
    assert "pods/status" in names and "pods/exec" in names


def test_named_group_discovery(widgets: None) -> None:
    groups = {g["name"]: g for g in discovery.api_group_list()["groups"]}
    assert groups["example.podhost.io"] == {"name": "example.podhost.io", "versions": [
        {"groupVersion": "example.podhost.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "example.podhost.io/v1", "version": "v1"}}
    listed = discovery.group_document("/apis/example.podhost.io/v1")
    assert listed is not None and listed["groupVersion"] == "example.podhost.io/v1"
    assert listed["resources"][0]["shortNames"] == ["wd"]
    [aggregated] = [i for i in discovery.api_group_discovery_list()["items"]
                    if i["metadata"]["name"] == "example.podhost.io"]
    assert aggregated["versions"][0]["resources"][0]["responseKind"] == {
        "group": "example.podhost.io", "version": "v1", "kind": "ConfigMap"}
    root = discovery.openapi_v3_root()["paths"]
    assert "apis/example.podhost.io/v1" in root
    doc = discovery.openapi_v3_group("/openapi/v3/apis/example.podhost.io/v1")
    assert doc is not None
    assert "/apis/example.podhost.io/v1/namespaces/{namespace}/widgets" in doc["paths"]


def test_named_group_crud_and_wrong_group(widgets: None, tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def run() -> None:
        body = {"apiVersion": "example.podhost.io/v1", "kind": "ConfigMap",
                "metadata": {"name": "w1"}, "data": {"a": "b"}}
        status, created = await call(api, "POST",
                                     "/apis/example.podhost.io/v1/namespaces/default/widgets",
                                     body)
        assert status == 201 and created["apiVersion"] == "example.podhost.io/v1"
        status, listed = await call(api, "GET",
                                    "/apis/example.podhost.io/v1/namespaces/default/widgets")
        assert status == 200 and listed["apiVersion"] == "example.podhost.io/v1"
        assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
        status, _ = await call(api, "GET", "/api/v1/namespaces/default/widgets/w1")
        assert status == 404  # not served in the core group
        status, _ = await call(api, "GET", "/apis/example.podhost.io/v2/namespaces/default/"
                                           "widgets/w1")
        assert status == 404

    asyncio.run(run())


def test_fields_added_by_admission_belong_to_no_manager(tmp_path: Path) -> None:
    """As the API server's create handler: managedFields are computed before mutating admission,
    so the ServiceAccount token volume it adds is owned by nobody (a later server-side apply
    without it does not remove it)."""
    api = make_api(tmp_path)

    async def run() -> None:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        status, created = await call(api, "POST", "/api/v1/namespaces/default/pods", body)
        assert status == 201, created
        names = [v["name"] for v in created["spec"].get("volumes", [])]
        assert any(n.startswith("kube-api-access-") for n in names)
        owned = json.dumps(created["metadata"]["managedFields"])
        assert "kube-api-access" not in owned and "f:volumes" not in owned

    asyncio.run(run())
