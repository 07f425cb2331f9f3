"""A small HTTP/1.1 server on asyncio streams with h11, able to hand a connection over.

ASGI servers only perform WebSocket upgrades; kubectl also needs raw `Upgrade: SPDY/3.1`
hand-over, so podhost owns the connection: a handler returns a Response, a StreamResponse
(chunked body from an async iterator) or an Upgrade (101, then the raw socket is the handler's).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import h11

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # the API server's default request size limit
MAX_HEADERS = 64 * 1024
# --- slow clients (issue 26; apiserver/limits.py): kube-apiserver's ReadHeaderTimeout (32 s) and
# IdleTimeout (90 s); a request body that stalls this long ends the connection too
HEADER_TIMEOUT, IDLE_TIMEOUT, BODY_TIMEOUT = 32.0, 90.0, 60.0
# --- end slow clients


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    header_list: list[tuple[str, str]]
    body: bytes = b""
    peer_cert: dict[str, Any] | None = None
    raw_target: str = ""
    user: Any = None  # the authenticated (or impersonated) rbac.User, set by app.py
    warnings: list[str] = field(default_factory=list)  # admission's, sent as Warning headers

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("true", "1")

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        out: list[str] = []
        for k, v in self.header_list:
            if k == name:
                out.extend(x.strip() for x in v.split(","))
        return out


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamResponse:
    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


UpgradeHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


@dataclass
class Upgrade:
    headers: list[tuple[str, str]]
    handler: UpgradeHandler


Handler = Callable[[Request], Awaitable[Response | StreamResponse | Upgrade]]


class BodyTooLarge(Exception):
    pass


def parse_target(target: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(target)
    return unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)


class Connection:
    """One client connection: read requests, dispatch, write responses, until closed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 handler: Handler, too_large: Callable[[], Response]) -> None:
        self.reader, self.writer = reader, writer
        self.handler, self.too_large = handler, too_large
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)

    async def _next_event(self, timeout: float = BODY_TIMEOUT
                          ) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            self.conn.receive_data(data)

    # --- slow clients (issue 26)
    async def _next_request(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        """The next request's head: IDLE_TIMEOUT for its first bytes, then HEADER_TIMEOUT for
        the whole head (TimeoutError past either)."""
        event = self.conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(self.reader.read(65536), IDLE_TIMEOUT)
        self.conn.receive_data(data)
        return await asyncio.wait_for(self._next_event(), HEADER_TIMEOUT)
    # --- end slow clients

    async def _send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _read_body(self) -> bytes:
        chunks, size = [], 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    raise BodyTooLarge()
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise h11.RemoteProtocolError("unexpected event in body")

    def _request(self, event: h11.Request) -> Request:
        target = event.target.decode("latin-1")
        path, query = parse_target(target)
        header_list = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                       for k, v in event.headers]
        headers: dict[str, str] = {}
        for k, v in header_list:
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        cert = None
        ssl_obj = self.writer.get_extra_info("ssl_object")
        if ssl_obj is not None:
            cert = ssl_obj.getpeercert() or None
        return Request(event.method.decode(), path, query, headers, header_list,
                       peer_cert=cert, raw_target=target)

    async def serve(self) -> None:
        try:
            while True:
                event = await self._next_request()
                if isinstance(event, h11.ConnectionClosed) or event is None:
                    return
                if not isinstance(event, h11.Request):
                    return
                request = self._request(event)
                try:
                    request.body = await self._read_body()
                    result = await self.handler(request)
                except BodyTooLarge:
                    await self._respond(self.too_large(), close=True)
                    with contextlib.suppress(Exception):
                        await self._discard_input()
                    return
                if isinstance(result, Upgrade):
                    await self._upgrade(result)
                    return
                if isinstance(result, StreamResponse):
                    await self._stream(result)
                else:
                    await self._respond(result)
                if self.conn.our_state is h11.MUST_CLOSE:
                    return
                self.conn.start_next_cycle()
        except h11.RemoteProtocolError as e:
            await self._refuse(e)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            return
        finally:
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _refuse(self, error: h11.RemoteProtocolError) -> None:
        """A request h11 could not parse still gets a Status (400, or 431 for huge headers)."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        code = error.error_status_hint if 400 <= error.error_status_hint < 500 else 400
        reason = "RequestHeaderFieldsTooLarge" if code == 431 else "BadRequest"
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": f"malformed HTTP request: {error}", "reason": reason,
                  "code": code}
        body = json.dumps(status, separators=(",", ":")).encode() + b"\n"
        with contextlib.suppress(Exception):
            await self._respond(Response(code, body), close=True)
            await self._discard_input()

    async def _discard_input(self, limit: int = 4 * 1024 * 1024, seconds: float = 1.0) -> None:
        """Read what the client is still sending before closing, so it gets the response
        rather than a connection reset (Go's closeWriteAndWait)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while limit > 0:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                return
            limit -= len(data)

    def _headers(self, content_type: str, extra: list[tuple[str, str]],
                 length: int | None) -> list[tuple[str, str]]:
        headers = [("Content-Type", content_type), ("Cache-Control", "no-cache, private")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        return headers + extra

    async def _respond(self, response: Response, close: bool = False) -> None:
        headers = self._headers(response.content_type, response.headers, len(response.body))
        if close:
            headers.append(("Connection", "close"))
        await self._send(h11.Response(status_code=response.status, headers=headers,
                                      reason=reason_phrase(response.status)))
        if response.body:
            await self._send(h11.Data(data=response.body))
        await self._send(h11.EndOfMessage())

    async def _stream(self, response: StreamResponse) -> None:
        headers = self._headers(response.content_type, response.headers, None)
        await self._send(h11.Response(status_code=response.status, headers=headers,
                                      reason=reason_phrase(response.status)))
        pump = asyncio.ensure_future(self._pump(response.chunks))
        hangup = asyncio.ensure_future(self.reader.read(1))
        try:
            await asyncio.wait({pump, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
            with contextlib.suppress(BaseException):
                await hangup
            if not pump.done():
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump
                raise ConnectionResetError("client went away")
            pump.result()
        await self._send(h11.EndOfMessage())

    async def _pump(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                if chunk:
                    await self._send(h11.Data(data=chunk))
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _upgrade(self, upgrade: Upgrade) -> None:
        await self._send(h11.InformationalResponse(status_code=101, headers=upgrade.headers,
                                                   reason=reason_phrase(101)))
        trailing, _closed = self.conn.trailing_data
        await upgrade.handler(self.reader, self.writer, bytes(trailing))


# where newer Pythons follow RFC 9110's names and Go keeps the older ones
_GO_PHRASES = {413: b"Request Entity Too Large", 422: b"Unprocessable Entity"}


def reason_phrase(code: int) -> bytes:
    """The status line's reason, as Go's http.StatusText (`HTTP/1.1 200 OK`)."""
    if code in _GO_PHRASES:
        return _GO_PHRASES[code]
    try:
        return http.HTTPStatus(code).phrase.encode()
    except ValueError:
        return b""


async def serve(host: str, port: int, handler: Handler, too_large: Callable[[], Response],
                ssl_context: ssl.SSLContext | None) -> asyncio.base_events.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(reader, writer, handler, too_large).serve()

    return await asyncio.start_server(on_client, host, port, ssl=ssl_context,
                                      limit=MAX_HEADERS, reuse_address=True)
