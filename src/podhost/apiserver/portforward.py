"""`pods/portforward`: SPDY/3.1 streams, raw (`POST`, `Upgrade: SPDY/3.1`) or tunnelled in
WebSocket binary messages (`GET`, subprotocol `SPDY/3.1+portforward.k8s.io`, kubectl 1.31+).

For each local connection kubectl opens an error stream and a data stream sharing a
`requestid`; the data stream is relayed to the port inside the Pod's network namespace. When the
Pod side closes, the data stream and then the error stream get FIN; a failed dial writes its
text on the error stream (kubectl then reports it and ends the whole port-forward).

Clients that speak the kubelet's older WebSocket channel protocol (`v4.channel.k8s.io`, e.g.
the Python client's `kubernetes.stream.portforward`) name the ports in the query
(`?ports=80,8080`) and get two channels per port: 2i for data, 2i+1 for errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from podhost.api import errors
from podhost.api.nodeapi import NodeBackend
from podhost.apiserver import spdy
from podhost.apiserver.http import Request, Upgrade
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"
CHANNEL_PROTOCOL = "v4.channel.k8s.io"


def check_target(store: Store, ns: str, name: str) -> None:
    pod = store.get("pods", ns, name)
    phase = pod.get("status", {}).get("phase")
    if phase != "Running":
        raise errors.BadRequestError(f"unable to forward port because pod is not running. "
                                     f"Current status={phase}")


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The next bytes from the Pod's port; b"" at its end or on a connection error."""
    try:
        return await reader.read(65536)
    except (ConnectionError, OSError):
        return b""


def dial_error(error: Exception, port: int, name: str) -> str:
    """The error-stream text for a port the Pod does not answer on."""
    if isinstance(error, errors.ApiError):
        return error.message
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    return f"failed to connect to localhost:{port} inside namespace of pod {name}: {reason}"


def query_ports(request: Request) -> list[int]:
    """`?ports=80,8080` (or repeated `ports=`) of the channel protocol."""
    texts = [t for value in request.query.get("ports", []) for t in value.split(",") if t]
    if not texts:
        raise errors.BadRequestError('query parameter "port" is required')
    ports: list[int] = []
    for text in texts:
        if not text.strip().isdigit() or not 0 < int(text) < 65536:
            raise errors.BadRequestError(f'unable to parse "{text}" as a port: invalid port')
        ports.append(int(text))
    return ports


def websocket_accept(request: Request, protocol: str | None) -> list[tuple[str, str]]:
    """The 101 headers completing a WebSocket handshake with the chosen subprotocol."""
    key = request.headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept)]
    return headers + ([("Sec-WebSocket-Protocol", protocol)] if protocol else [])


def channel_upgrade(node: NodeBackend, request: Request, ns: str, name: str) -> Upgrade:
    ports = query_ports(request)
    offered = request.header_values("sec-websocket-protocol")
    protocol = CHANNEL_PROTOCOL if CHANNEL_PROTOCOL in offered else None

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      trailing: bytes) -> None:
        await ChannelPortForward(reader, writer, trailing).run(node, ns, name, ports)

    return Upgrade(websocket_accept(request, protocol), session)


async def handle(store: Store, node: NodeBackend, request: Request, ns: str,
                 name: str) -> Upgrade:
    check_target(store, ns, name)
    upgrade = request.headers.get("upgrade", "").lower()
    offered = request.header_values("sec-websocket-protocol")
    if upgrade == "websocket" and WS_PROTOCOL not in offered and \
            (CHANNEL_PROTOCOL in offered or request.query.get("ports")):
        return channel_upgrade(node, request, ns, name)
    if upgrade == "websocket":
        if WS_PROTOCOL not in offered:
            raise errors.BadRequestError(f"unable to upgrade connection: none of the offered "
                                         f"subprotocols {offered} is supported; use "
                                         f"{WS_PROTOCOL}")
        headers = websocket_accept(request, WS_PROTOCOL)
        websocket = True
    elif upgrade == "spdy/3.1":
        offered = request.header_values("x-stream-protocol-version")
        if SPDY_PROTOCOL not in offered:
            raise errors.ForbiddenError(f"unable to upgrade connection: none of the requested "
                                        f"protocols {offered} are supported; use "
                                        f"{SPDY_PROTOCOL}")
        headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                   ("X-Stream-Protocol-Version", SPDY_PROTOCOL)]
        websocket = False
    else:
        raise errors.BadRequestError("Upgrade request required")

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      trailing: bytes) -> None:
        transport: spdy.Transport = WebSocketTransport(reader, writer, trailing) if websocket \
            else spdy.RawTransport(reader, writer, trailing)
        conn = spdy.Session(transport)
        await PortForward(conn, node, ns, name).run()

    return Upgrade(headers, session)


class WebSocketTransport:
    """SPDY bytes carried in WebSocket binary messages (split anywhere by the client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 trailing: bytes) -> None:
        self.reader, self.writer = reader, writer
        self.ws = Connection(ConnectionType.SERVER, extensions=[], trailing_data=trailing)
        self.pending: list[bytes] = []
        self.ended = False
        self._drain_events()

    def _drain_events(self) -> None:
        """Queue message bytes; kubectl also sends empty messages (the payload of an empty
        DATA+FIN frame), which must not read as the end of the connection."""
        for event in self.ws.events():
            if isinstance(event, (BytesMessage, TextMessage)):
                data = event.data.encode() if isinstance(event, TextMessage) else event.data
                if data:
                    self.pending.append(bytes(data))
            elif isinstance(event, Ping):
                self.writer.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(Exception):
                    self.writer.write(self.ws.send(event.response()))
                self.ended = True

    async def recv(self) -> bytes:
        while not self.pending:
            if self.ended:
                return b""
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return b""
            self.ws.receive_data(data)
            self._drain_events()
        return self.pending.pop(0) if len(self.pending) == 1 else self._take_all()

    def _take_all(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data

    async def send(self, data: bytes) -> None:
        if self.ended:
            raise ConnectionResetError("websocket closed")
        self.writer.write(self.ws.send(BytesMessage(data=data)))
        await self.writer.drain()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if not self.ended:
                self.writer.write(self.ws.send(CloseConnection(code=1000)))
                await self.writer.drain()
        with contextlib.suppress(Exception):
            self.writer.close()


class PortForward:
    """Pairs error and data streams by requestid and relays each pair to the Pod's port."""

    def __init__(self, conn: spdy.Session, node: NodeBackend, ns: str, name: str) -> None:
        self.conn, self.node, self.ns, self.name = conn, node, ns, name
        self.pairs: dict[str, dict[str, spdy.Stream]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        runner = asyncio.ensure_future(self.conn.run())
        try:
            while True:
                stream = await self.conn.accept()
                if stream is None:
                    return
                self._on_stream(stream)
        finally:
            for task in list(self.tasks):
                task.cancel()
            for task in list(self.tasks):
                with contextlib.suppress(BaseException):
                    await task
            await self.conn.close()
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner

    def _on_stream(self, stream: spdy.Stream) -> None:
        request_id = stream.headers.get("requestid", str(stream.id))
        pair = self.pairs.setdefault(request_id, {})
        pair[stream.type] = stream
        if "error" in pair and "data" in pair:
            del self.pairs[request_id]
            task = asyncio.ensure_future(self.forward(pair["error"], pair["data"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def forward(self, error: spdy.Stream, data: spdy.Stream) -> None:
        port_text = data.headers.get("port", "")
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError(port_text)
        except ValueError:
            await self._fail(error, data, f'invalid port "{port_text}"')
            return
        try:
            reader, writer = await self.node.port_forward(self.ns, self.name, port)
        except (errors.ApiError, OSError) as e:
            await self._fail(error, data, dial_error(e, port, self.name))
            return
        upstream = asyncio.ensure_future(self._to_pod(data, writer))
        try:
            while chunk := await read_chunk(reader):
                await self.conn.write(data, chunk)
            await self.conn.close_stream(data)
            await self.conn.close_stream(error)
        finally:
            upstream.cancel()
            with contextlib.suppress(BaseException):
                await upstream
            with contextlib.suppress(Exception):
                writer.close()

    async def _to_pod(self, data: spdy.Stream, writer: asyncio.StreamWriter) -> None:
        while True:
            chunk = await data.read()
            if chunk is None:
                with contextlib.suppress(Exception):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(chunk)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()

    async def _fail(self, error: spdy.Stream, data: spdy.Stream, message: str) -> None:
        await self.conn.write(error, message.encode())
        await self.conn.close_stream(error)
        await self.conn.close_stream(data)


class ChannelPortForward:
    """Ports over WebSocket channels: each channel's first message is its port (2 bytes,
    little-endian); then channel 2i relays the i-th port both ways and 2i+1 carries dial
    errors. The session ends when every port's Pod side has closed, or the client left."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 trailing: bytes) -> None:
        self.reader, self.writer = reader, writer
        self.ws = Connection(ConnectionType.SERVER, extensions=[], trailing_data=trailing)
        self.pods: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.closed = False

    async def send(self, channel: int, data: bytes) -> None:
        if not self.closed:
            self.writer.write(self.ws.send(BytesMessage(data=bytes([channel]) + data)))
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()

    async def run(self, node: NodeBackend, ns: str, name: str, ports: list[int]) -> None:
        for index, port in enumerate(ports):
            for channel in (2 * index, 2 * index + 1):
                await self.send(channel, port.to_bytes(2, "little"))
            try:
                self.pods[index] = await node.port_forward(ns, name, port)
            except (errors.ApiError, OSError) as e:
                await self.send(2 * index + 1, dial_error(e, port, name).encode())
        outbound: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(
            *(self.from_pod(index) for index in self.pods)))
        inbound: asyncio.Future[Any] = asyncio.ensure_future(self.from_client())
        try:
            await asyncio.wait({outbound, inbound}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (outbound, inbound):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            await self.close()

    async def from_pod(self, index: int) -> None:
        while chunk := await read_chunk(self.pods[index][0]):
            await self.send(2 * index, chunk)

    async def from_client(self) -> None:
        while not self.closed:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return
            self.ws.receive_data(data)
            for event in self.ws.events():
                await self.on_event(event)

    async def on_event(self, event: Any) -> None:
        if isinstance(event, Ping):
            self.writer.write(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            with contextlib.suppress(Exception):
                self.writer.write(self.ws.send(event.response()))
            self.closed = True
        elif isinstance(event, (BytesMessage, TextMessage)):
            payload = event.data.encode() if isinstance(event, TextMessage) else event.data
            pod = self.pods.get(payload[0] // 2) if payload and payload[0] % 2 == 0 else None
            if pod is not None and len(payload) > 1:
                pod[1].write(bytes(payload[1:]))
                with contextlib.suppress(ConnectionError, OSError):
                    await pod[1].drain()

    async def close(self) -> None:
        for _reader, pod_writer in self.pods.values():
            with contextlib.suppress(Exception):
                pod_writer.close()
        with contextlib.suppress(Exception):
            if not self.closed:
                self.writer.write(self.ws.send(CloseConnection(code=1000)))
                await self.writer.drain()
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
