"""Watch-list (`sendInitialEvents=true&resourceVersionMatch=NotOlderThan`): the state as ADDED
events, then the bookmark annotated `k8s.io/initial-events-end`; inconsistent options are 422
as apimachinery's ValidateListOptions words them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from podhost.apiserver.http import StreamResponse
from tests.unit.apiserver.helpers import call, make_api, request

CMS = "/api/v1/namespaces/default/configmaps"


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def lines(resp: Any, n: int, timeout: float = 2) -> list[dict[str, Any]]:
    assert isinstance(resp, StreamResponse), getattr(resp, "body", resp)
    out: list[dict[str, Any]] = []
    it = resp.chunks.__aiter__()
    while len(out) < n:
        chunk = await asyncio.wait_for(it.__anext__(), timeout)
        out += [json.loads(line) for line in chunk.splitlines() if line]
    await it.aclose()
    return out


def test_watch_list_sends_state_then_the_annotated_bookmark(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        _, first = await call(api, "POST", CMS, cm("a"))
        await call(api, "POST", CMS, cm("b"))
        rv = api.store.current_rv()
        for since in ("", first["metadata"]["resourceVersion"]):
            resp = await api.handle(request(
                "GET", CMS + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                f"&resourceVersionMatch=NotOlderThan&resourceVersion={since}"))
            events = await lines(resp, 3)
            assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
                ("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
            assert events[2]["object"] == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
                "resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}}}
        # later changes follow the bookmark
        resp = await api.handle(request(
            "GET", CMS + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan"))
        it = resp.chunks.__aiter__()
        assert [json.loads(x)["type"] for x in [await it.__anext__() for _ in range(3)]] == [
            "ADDED", "ADDED", "BOOKMARK"]
        await call(api, "POST", CMS, cm("c"))
        later = json.loads(await asyncio.wait_for(it.__anext__(), 2))
        assert (later["type"], later["object"]["metadata"]["name"]) == ("ADDED", "c")
        await it.aclose()
    asyncio.run(go())


def test_send_initial_events_false_starts_from_the_resource_version(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        _, first = await call(api, "POST", CMS, cm("a"))
        await call(api, "POST", CMS, cm("b"))
        resp = await api.handle(request(
            "GET", CMS + "?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan"
            f"&resourceVersion={first['metadata']['resourceVersion']}"))
        (event,) = await lines(resp, 1)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "b")
    asyncio.run(go())


def test_inconsistent_options_are_422(tmp_path: Path) -> None:
    cases = {
        "watch=true&sendInitialEvents=true": [
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan"],
        "watch=true&resourceVersionMatch=NotOlderThan": [
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
            "unless sendInitialEvents is provided"],
        "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact": [
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan",
            'resourceVersionMatch: Unsupported value: "Exact": supported values: '
            '"NotOlderThan"'],
        "sendInitialEvents=true": ["sendInitialEvents: Forbidden: sendInitialEvents is "
                                   "forbidden for list"],
        "resourceVersionMatch=NotOlderThan": [
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided"],
    }

    async def go() -> None:
        api = make_api(tmp_path)
        for query, messages in cases.items():
            code, status = await call(api, "GET", CMS + "?" + query)
            assert code == 422, (query, status)
            assert status["details"]["kind"] == "ListOptions"
            assert status["details"]["group"] == "meta.k8s.io"
            text = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
            assert status["message"] == f'ListOptions.meta.k8s.io "" is invalid: {text}'
    asyncio.run(go())


def test_a_watch_with_a_label_selector_sees_objects_leave_and_enter(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        await call(api, "POST", CMS, {**cm("a"), "metadata": {"name": "a",
                                                               "labels": {"tier": "web"}}})
        resp = await api.handle(request("GET", CMS + "?watch=true&labelSelector=tier%3Dweb"))
        assert isinstance(resp, StreamResponse)
        it = resp.chunks.__aiter__()
        assert json.loads(await it.__anext__())["type"] == "ADDED"
        patch = {"metadata": {"labels": {"tier": "db"}}}
        code, _ = await call(api, "PATCH", CMS + "/a", patch,
                             headers={"content-type": "application/merge-patch+json"})
        assert code == 200
        gone = json.loads(await asyncio.wait_for(it.__anext__(), 2))
        assert gone["type"] == "DELETED" and gone["object"]["metadata"]["labels"] == {
            "tier": "web"}
        patch = {"metadata": {"labels": {"tier": "web"}}}
        await call(api, "PATCH", CMS + "/a", patch,
                   headers={"content-type": "application/merge-patch+json"})
        back = json.loads(await asyncio.wait_for(it.__anext__(), 2))
        assert back["type"] == "ADDED"
        await it.aclose()
    asyncio.run(go())
