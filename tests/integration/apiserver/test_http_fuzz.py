"""Bad input of any kind gets a metav1.Status over a real socket: never a 5xx, never a hang."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from podhost.apiserver import app as apiapp
from podhost.apiserver import http
from tests.unit.apiserver.helpers import TOKEN, make_api

pytestmark = pytest.mark.integration

AUTH = f"Authorization: Bearer {TOKEN}\r\n"


async def exchange(port: int, raw: bytes, timeout: float = 5) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        code = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        return code, json.loads(body) if body.startswith(b"{") else body
    finally:
        writer.close()


def run_with_server(tmp_path: Path, scenario: Any) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        server = await http.serve("127.0.0.1", 0, api.handle, apiapp.too_large, None)
        port = server.sockets[0].getsockname()[1]
        try:
            await scenario(port)
        finally:
            server.close()
    asyncio.run(go())


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{AUTH}{extra}\r\n".encode()


def test_garbage_and_huge_headers_get_a_status(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        code, status = await exchange(port, b"\x16\x03\x01garbage\r\n\r\n")
        assert code == 400 and status["kind"] == "Status" and status["reason"] == "BadRequest"
        code, status = await exchange(port, get("/api/v1/pods", "X-Big: " + "a" * 300000 + "\r\n"))
        assert code == 431 and status["reason"] == "RequestHeaderFieldsTooLarge"
        rng = random.Random(7)
        for _ in range(20):
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            code, status = await exchange(port, junk + b"\r\n\r\n")
            assert 400 <= code < 500, junk
    run_with_server(tmp_path, scenario)


def test_anonymous_refused_except_health(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        raw = b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n"
        code, status = await exchange(port, raw)
        assert code == 401 and status["message"] == "Unauthorized"
        for path in ("/healthz", "/livez", "/readyz", "/version"):
            code, _ = await exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert code == 200, path
    run_with_server(tmp_path, scenario)


def test_request_too_large_is_413(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        body = b"{" + b" " * (3 * 1024 * 1024 + 10) + b"}"
        raw = (f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n{AUTH}"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        code, status = await exchange(port, raw + body)
        assert code == 413 and status["reason"] == "RequestEntityTooLarge"
    run_with_server(tmp_path, scenario)


@pytest.mark.parametrize("method,path,body,ctype", [
    ("POST", "/api/v1/namespaces/default/configmaps", b"{not json", "application/json"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"[1,2]", "application/json"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": 5}', "application/json"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {"name": 5}}',
     "application/json"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"data": [1]}', "application/json"),
    ("POST", "/api/v1/namespaces/default/secrets", b'{"metadata":{"name":"a"},"data":5}',
     "application/json"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"\xff\xfe", "application/yaml"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"k8s\x00\xff\xff\xff",
     "application/vnd.kubernetes.protobuf"),
    ("POST", "/api/v1/namespaces/default/pods", b'{"spec": "x"}', "application/json"),
    ("POST", "/api/v1/namespaces", b'{"metadata": {"name": "A_B"}}', "application/json"),
    ("PATCH", "/api/v1/namespaces/default", b"[{\"op\": 1}]", "application/json-patch+json"),
    ("PATCH", "/api/v1/namespaces/default", b"null", "application/merge-patch+json"),
    ("PUT", "/api/v1/namespaces/default", b'{"metadata": {"name": "other"}}', "application/json"),
    ("DELETE", "/api/v1/namespaces/default/configmaps/x", b"{bad", "application/json"),
    ("GET", "/api/v1/namespaces/default/pods?timeoutSeconds=abc", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods?limit=zz", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=-5", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods?continue=%%%", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods?labelSelector=a%20notin%20", b"", ""),
    ("DELETE", "/api/v1/namespaces/default/configmaps?gracePeriodSeconds=x", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods/x/log?tailLines=q", b"", ""),
    ("GET", "/api/v1/../../etc/passwd", b"", ""),
    ("GET", "/api/v1/namespaces/%00/pods/x", b"", ""),
    ("GET", "/api/v1/namespaces/default/widgets", b"", ""),
    ("TRACE", "/api/v1/namespaces", b"", ""),
    ("POST", "/api/v1/namespaces/default/pods/x/exec?command=ls", b"", ""),
    ("GET", "/api/v1/namespaces/default/pods/x/portforward", b"", ""),
])
def test_bad_requests_get_4xx_status(tmp_path: Path, method: str, path: str, body: bytes,
                                     ctype: str) -> None:
    async def scenario(port: int) -> None:
        head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{AUTH}"
                f"Content-Length: {len(body)}\r\n" +
                (f"Content-Type: {ctype}\r\n" if ctype else "") + "\r\n").encode()
        code, status = await exchange(port, head + body)
        assert 400 <= code < 500, (code, status)
        assert status["kind"] == "Status" and status["code"] == code
    run_with_server(tmp_path, scenario)
