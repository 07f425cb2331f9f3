"""docs/architecture.md "Adding a kind", followed by a test: one table row and one strategy
serve a toy kind with discovery, defaults, validation, a table and watch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from podhost.api import columns, errors, registry
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.apiserver import discovery
from podhost.registry import strategies
from podhost.registry.strategy import Strategy
from tests.unit.apiserver.helpers import call, make_api

# the table row (ConfigMap's OpenAPI schema stands in for the toy kind's)
GADGETS = registry.ResourceType("gadgets", "gadget", "ConfigMap", group="toys.podhost.io",
                                short_names=("gd",), categories=("all",),
                                definition_package="io.k8s.api.core.v1.")
SIZE: columns.Column = ("Size", "string", "", 0, "data.size")


class GadgetStrategy(Strategy):
    """The strategy module: defaults, validation, columns."""

    columns = (columns.NAME, SIZE, columns.AGE)

    def prepare_for_create(self, obj: Obj) -> None:
        obj.setdefault("data", {}).setdefault("size", "small")

    def validate(self, obj: Obj) -> list[FieldError]:
        size = (obj.get("data") or {}).get("size")
        return [] if size in ("small", "large") else [
            errors.not_supported("data.size", size, ["small", "large"])]

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [obj["metadata"]["name"], obj["data"]["size"], columns.age(obj, now)]


@pytest.fixture
def gadgets() -> Iterator[None]:
    saved = dict(registry._BY_NAME)
    del registry._BY_NAME["configmaps"]  # the toy kind borrows ConfigMap's kind name
    registry.register(GADGETS)
    strategies.register("gadgets", GadgetStrategy())
    try:
        yield
    finally:
        strategies.forget("gadgets")
        registry._BY_NAME.clear()
        registry._BY_NAME.update(saved)


PATH = "/apis/toys.podhost.io/v1/namespaces/default/gadgets"


def test_a_kind_from_one_row_and_one_strategy(gadgets: None, tmp_path: Path) -> None:
    listed = discovery.group_document("/apis/toys.podhost.io/v1")
    assert listed is not None and listed["resources"][0]["shortNames"] == ["gd"]
    api = make_api(tmp_path)

    async def run() -> None:
        body = {"apiVersion": "toys.podhost.io/v1", "kind": "ConfigMap",
                "metadata": {"name": "g1", "labels": {"bad key!": "x"}}}
        status, refused = await call(api, "POST", PATH, body)
        assert status == 422, refused
        assert refused["message"].startswith('ConfigMap.toys.podhost.io "g1" is invalid: '
                                             'metadata.labels: Invalid value: "bad key!"')
        del body["metadata"]["labels"]
        status, created = await call(api, "POST", PATH, body)
        assert status == 201 and created["data"] == {"size": "small"}
        body = {**body, "metadata": {"name": "g2"}, "data": {"size": "huge"}}
        status, refused = await call(api, "POST", PATH, body)
        assert status == 422 and 'data.size: Unsupported value: "huge"' in refused["message"]
        status, table = await call(api, "GET", PATH, headers={
            "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        assert status == 200
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Age"]
        assert table["rows"][0]["cells"][:2] == ["g1", "small"]

    asyncio.run(run())


def test_the_toy_kind_is_watched(gadgets: None, tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def run() -> None:
        body = {"apiVersion": "toys.podhost.io/v1", "kind": "ConfigMap",
                "metadata": {"name": "g1"}}
        status, _ = await call(api, "POST", PATH, body)
        assert status == 201
        items, _ = api.store.list("gadgets", "default")
        assert [json.loads(json.dumps(i))["metadata"]["name"] for i in items] == ["g1"]
        watcher, _ = api.store.watch("gadgets", "default", None, lambda o: True)
        await call(api, "DELETE", f"{PATH}/g1")
        event = await asyncio.wait_for(watcher.queue.get(), 5)
        assert event.type == "DELETED" and event.object["metadata"]["name"] == "g1"
        api.store.unwatch(watcher)

    asyncio.run(run())
