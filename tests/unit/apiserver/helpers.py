"""An in-process ApiServer over a temporary Store and a fake node, and a request helper."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Request, Response
from podhost.apiserver.objects import NodeFacts
from podhost.controllers.controller import Controller
from podhost.controllers.namespace import NamespaceController
from podhost.controllers.rootca import RootCAPublisher
from podhost.store.sqlite import Store

TOKEN = "test-token"
FACTS = NodeFacts(cpus=4, memory_kib=8000000, storage_bytes=100 * 2**30, kernel="6.1.0",
                  os_image="Debian GNU/Linux 12 (bookworm)", runtime_version="runc://1.1.5")


class FakeNode:
    node_name = "testnode"

    def __init__(self) -> None:
        self.ports: dict[int, Any] = {}

    async def exec(self, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError

    async def logs(self, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError


def make_api(tmp: Path) -> ApiServer:
    return ApiServer(Store(tmp / "db.sqlite"), FakeNode(), token=TOKEN, node_facts=FACTS)


@contextlib.asynccontextmanager
async def controllers(api: ApiServer, ca_bundle: str = "CA") -> AsyncIterator[None]:
    """The controllers `podhost serve` runs beside the API server, for the test's duration."""
    running: list[Controller] = [NamespaceController(api.store),
                                 RootCAPublisher(api.store, ca_bundle)]
    tasks = [asyncio.ensure_future(c.run()) for c in running]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(api: ApiServer, method: str, target: str, code: int,
                     timeout: float = 3) -> Any:
    """Call until the answer has status `code` (what a controller does takes a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got, body = await call(api, method, target)
        if got == code or asyncio.get_running_loop().time() > deadline:
            assert got == code, (method, target, got, body)
            return body
        await asyncio.sleep(0.02)


def request(method: str, target: str, body: Any = None, *, token: str | None = TOKEN,
            headers: dict[str, str] | None = None) -> Request:
    parts = urlsplit(target)
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None
                                                else b"")
    if body is not None and not isinstance(body, bytes):
        hdrs.setdefault("content-type", "application/json")
    return Request(method, parts.path, parse_qs(parts.query, keep_blank_values=True), hdrs,
                   list(hdrs.items()), raw, raw_target=target)


async def call(api: ApiServer, method: str, target: str, body: Any = None,
               **kw: Any) -> tuple[int, Any]:
    resp = await api.handle(request(method, target, body, **kw))
    assert isinstance(resp, Response), resp
    return resp.status, json.loads(resp.body) if resp.body.startswith(b"{") else resp.body
