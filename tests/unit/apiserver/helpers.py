"""An in-process ApiServer over a temporary Store and a fake node, and a request helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Request, Response
from podhost.apiserver.objects import NodeFacts
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
