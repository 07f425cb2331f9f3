"""Hostile input against the API server: kube-apiserver's limits, answered in its words, never
a 5xx (request size, nesting depth of every content type and patch type, requests in flight,
watches per client, slow clients)."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import pytest

from podhost.apiserver import http, limits
from podhost.apiserver.app import ApiServer, too_large
from podhost.apiserver.http import Response, StreamResponse
from tests.unit.apiserver.helpers import call, make_api, request

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> ApiServer:
    api = make_api(tmp_path_factory.mktemp("limits"))
    asyncio.run(call(api, "POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "v"}}))
    return api


def deep(n: int, open_: str = '{"a":', close: str = "}") -> str:
    return open_ * n + "1" + close * n


def send(api: ApiServer, method: str, target: str, body: str, ctype: str) -> tuple[int, Any]:
    return asyncio.run(call(api, method, target, body.encode(),
                            headers={"content-type": ctype}))


@pytest.mark.parametrize("ctype", ["application/json", "application/merge-patch+json",
                                   "application/strategic-merge-patch+json",
                                   "application/json-patch+json"])
def test_deeper_than_go_decodes_is_a_400_in_its_words(api: ApiServer, ctype: str) -> None:
    body = deep(10_001) if "json-patch" not in ctype else \
        f'[{{"op":"add","path":"/data/x","value":{deep(10_000)}}}]'
    method, target = ("POST", CMS) if ctype == "application/json" else ("PATCH", f"{CMS}/c")
    code, status = send(api, method, target, body, ctype)
    assert code == 400, status
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                 "invalid character '{' exceeded max depth")


@pytest.mark.parametrize(("ctype", "body"), [
    ("application/json", '{"metadata":{"name":"d"},"data":' + deep(9_990) + "}"),
    ("application/json", '{"metadata":{"name":"d"},"x":' + deep(9_990, "[", "]") + "}"),
    ("application/yaml", "metadata: {name: d}\ndata: " + deep(9_990) + "\n"),
    ("application/merge-patch+json", '{"data":' + deep(9_990) + "}"),
    ("application/merge-patch+json", '{"metadata":{"labels":' + deep(500) + "}}"),
    ("application/strategic-merge-patch+json", '{"data":' + deep(500) + "}"),
    ("application/strategic-merge-patch+json", '{"x":' + deep(9_990) + "}"),
    ("application/json-patch+json", '[{"op":"add","path":"/x","value":' + deep(9_990) + "}]"),
    ("application/json-patch+json", json.dumps([{"op": "add", "path": "/data/k" + "/a" * 500,
                                                 "value": 1}])),
])
def test_deep_bodies_up_to_the_limit_are_served(api: ApiServer, ctype: str, body: str) -> None:
    """Decoded and checked as any body: a mistyped field is a 400, an unknown one dropped."""
    method, target = ("POST", CMS) if ctype in ("application/json", "application/yaml") \
        else ("PATCH", f"{CMS}/c")
    code, status = send(api, method, target, body, ctype)
    assert code < 500, status
    assert code < 300 or status["kind"] == "Status"


def test_a_json_patch_that_does_not_apply_is_a_422(api: ApiServer) -> None:
    code, status = send(api, "PATCH", f"{CMS}/c",
                        '[{"op":"replace","path":"/nope/x","value":1}]',
                        "application/json-patch+json")
    assert code == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"
    assert status["details"]["causes"] == [{"message": 'replace operation does not apply: doc is '
                                                       'missing path: "/nope/x": missing value'}]


def test_strings_do_not_count_as_nesting() -> None:
    assert limits.too_deep(json.dumps({"a": "{[" * 20_000}).encode()) is None
    assert limits.too_deep(('["\\"' + "[" * 10_001 + '"]').encode()) is None
    assert limits.too_deep(("[" * 10_001).encode()) == \
        "invalid character '[' exceeded max depth"


def test_requests_past_the_in_flight_cap_are_429(api: ApiServer) -> None:
    api.inflight.caps = {False: 0, True: 1}
    try:
        resp = asyncio.run(api.handle(request("GET", CMS)))
        assert isinstance(resp, Response)
        assert (resp.status, resp.body) == (429, b"Too many requests, please try again later.\n")
        assert ("Retry-After", "1") in resp.headers
        code, _ = asyncio.run(call(api, "DELETE", f"{CMS}/none"))
        assert code == 404  # mutating requests have their own cap
    finally:
        api.inflight.caps = {False: limits.MAX_READONLY, True: limits.MAX_MUTATING}


def test_watches_are_counted_per_user(api: ApiServer) -> None:
    async def scenario() -> None:
        api.inflight.watch_cap = 1
        first = await api.handle(request("GET", f"{CMS}?watch=true&timeoutSeconds=5"))
        assert isinstance(first, StreamResponse)
        chunks = first.chunks.__aiter__()
        await chunks.__anext__()  # the watch streams (its ADDED event)
        second = await api.handle(request("GET", f"{CMS}?watch=true"))
        assert isinstance(second, Response) and second.status == 429
        await chunks.aclose()  # type: ignore[attr-defined]
        third = await api.handle(request("GET", f"{CMS}?watch=true&timeoutSeconds=1"))
        assert isinstance(third, StreamResponse)
        await third.chunks.aclose()  # type: ignore[attr-defined]
    try:
        asyncio.run(scenario())
    finally:
        api.inflight.watch_cap = limits.WATCHES_PER_USER


async def _server(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    async def handler(req: http.Request) -> Response:
        return Response(200, b"{}")
    server = await http.serve("127.0.0.1", 0, handler, too_large, None)
    return server, server.sockets[0].getsockname()[1]


def test_a_body_over_3_mib_is_a_413(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> bytes:
        server, port = await _server(monkeypatch)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        size = http.MAX_BODY + 1
        writer.write(f"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {size}\r\n\r\n".encode())
        writer.write(b"x" * size)
        with pytest.raises((ConnectionError, ssl.SSLError)):
            await writer.drain()
            raise ConnectionResetError
        answer = await reader.read()
        server.close()
        return answer
    answer = asyncio.run(scenario())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Request entity too large: limit is 3145728",
        "reason": "RequestEntityTooLarge", "code": 413}


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nhost: x\r\n"])
def test_slow_clients_are_hung_up_on(monkeypatch: pytest.MonkeyPatch, sent: bytes) -> None:
    monkeypatch.setattr(http, "IDLE_TIMEOUT", 0.3)
    monkeypatch.setattr(http, "HEADER_TIMEOUT", 0.3)

    async def scenario() -> bytes:
        server, port = await _server(monkeypatch)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        answer = await asyncio.wait_for(reader.read(), 3)
        server.close()
        return answer
    assert asyncio.run(scenario()) == b""


def test_long_running_requests_are_not_counted() -> None:
    assert not limits.is_long_running(request("GET", CMS))
    for target in (f"{CMS}?watch=true", "/api/v1/watch/pods",
                   "/api/v1/namespaces/d/pods/p/exec", "/api/v1/namespaces/d/pods/p/log",
                   "/api/v1/nodes/n/proxy/metrics"):
        assert limits.is_long_running(request("GET", target)), target
