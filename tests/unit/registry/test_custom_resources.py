"""A CRD through the API server in-process: established, served with one
CustomResourceStrategy built from its schema, forgotten when deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podhost.api import registry
from podhost.registry import strategies
from podhost.registry.apiextensions.customresources import CustomResourceStrategy
from tests.unit.apiserver.helpers import call, make_api

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GIZMOS = "/apis/unit.example.com/v1/namespaces/default/gizmos"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gizmos.unit.example.com"},
    "spec": {"group": "unit.example.com", "scope": "Namespaced",
             "names": {"plural": "gizmos", "kind": "Gizmo"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "additionalPrinterColumns": [
                               {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "size": {"type": "integer", "default": 3},
                                   "name": {"type": "string"}},
                                   "x-kubernetes-validations": [
                                       {"rule": "self.size < 10", "message": "too big"}]}}}}}]}}


@pytest.fixture
def clean() -> Iterator[None]:
    saved = dict(registry._BY_NAME)
    try:
        yield
    finally:
        strategies.forget("gizmos")
        registry._BY_NAME.clear()
        registry._BY_NAME.update(saved)


def test_crd_lifecycle(clean: None, tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def run() -> None:
        status, created = await call(api, "POST", CRDS, CRD)
        assert status == 201, created
        assert created["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
        assert created["spec"]["names"]["singular"] == "gizmo"
        assert created["spec"]["names"]["listKind"] == "GizmoList"
        _, crd = await call(api, "GET", f"{CRDS}/gizmos.unit.example.com")
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == \
            {"NamesAccepted": "True", "Established": "True"}
        assert isinstance(strategies.get("gizmos"), CustomResourceStrategy)

        body = {"apiVersion": "unit.example.com/v1", "kind": "Gizmo",
                "metadata": {"name": "g1"}, "spec": {"size": 12}}
        status, refused = await call(api, "POST", GIZMOS, body)
        assert status == 422
        assert refused["message"] == ('Gizmo.unit.example.com "g1" is invalid: spec: Invalid '
                                      'value: "object": too big')
        assert refused["details"]["group"] == "unit.example.com"
        status, made = await call(api, "POST", GIZMOS, {**body, "spec": {"name": "x"}})
        assert status == 201 and made["spec"] == {"name": "x", "size": 3}
        status, table = await call(api, "GET", GIZMOS, headers={
            "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Age"]
        assert table["rows"][0]["cells"][:2] == ["g1", 3]

        status, _ = await call(api, "DELETE", f"{CRDS}/gizmos.unit.example.com")
        assert status == 200
        assert registry.get("gizmos") is None
        assert api.store.list("gizmos")[0] == []
        status, _ = await call(api, "GET", GIZMOS)
        assert status == 404

    asyncio.run(run())


def test_invalid_crd(clean: None, tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def run() -> None:
        bad = {**CRD, "metadata": {"name": "wrong"},
               "spec": {**CRD["spec"], "scope": "Global"}}
        status, refused = await call(api, "POST", CRDS, bad)
        assert status == 422
        assert refused["message"].startswith(
            'CustomResourceDefinition.apiextensions.k8s.io "wrong" is invalid: '
            '[metadata.name: Invalid value: "wrong": must be spec.names.plural+"."+spec.group, '
            'spec.scope: Unsupported value: "Global": supported values: "Cluster", '
            '"Namespaced"')

    asyncio.run(run())
