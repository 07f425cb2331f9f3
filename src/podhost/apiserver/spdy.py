"""A minimal SPDY/3.1 framing layer: what kubectl's spdystream uses for exec and port-forward.

Frames (draft-mbelshe-httpbis-spdy-00): a control frame is `1 | version(15) | type(16) |
flags(8) | length(24) | payload`; a data frame is `0 | stream id(31) | flags(8) | length(24) |
payload`. Header blocks are zlib streams primed with the SPDY/3 dictionary, one compression
context per direction for the whole connection, each block ending with a sync flush.

`FrameParser` turns bytes into frames (pure, no I/O); `FrameWriter` builds frames; `Session`
runs them over any byte transport (a raw upgraded socket, or WebSocket binary messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Protocol

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_CANCEL = 1, 5
MAX_FRAME = 16 * 1024 * 1024

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status "
    "200_OK version HTTP/1.1 url public set-cookie keep-alive origin").split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
# The SPDY/3 header compression dictionary (section 2.6.10.1): length-prefixed words, then text.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.replace("_", " ").encode()
                      for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: dict[str, str]
    fin: bool = False


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int
    status: int


@dataclass(frozen=True)
class Ignored:
    type: int


Frame = SynStream | SynReply | Data | RstStream | Ping | GoAway | Ignored


def decode_headers(block: bytes) -> dict[str, str]:
    """An uncompressed name/value block: count(32), then length(32)+name, length(32)+value."""
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            headers[name] = value
        return headers
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"bad header block: {e}") from None


def encode_headers(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        for text in (name.lower().encode(), value.encode()):
            out.append(struct.pack(">I", len(text)) + text)
    return b"".join(out)


@dataclass
class FrameParser:
    """Bytes in, frames out; keeps the inbound header decompression context."""

    buffer: bytearray = field(default_factory=bytearray)
    inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(
        zdict=DICTIONARY))

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if length > MAX_FRAME:
                raise ProtocolError("frame too large")
            if len(self.buffer) < 8 + length:
                break
            head, payload = bytes(self.buffer[:8]), bytes(self.buffer[8:8 + length])
            del self.buffer[:8 + length]
            frames.append(self._frame(head, payload))
        return frames

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            return decode_headers(self.inflate.decompress(block))
        except zlib.error as e:
            raise ProtocolError(f"header decompression failed: {e}") from None

    def _frame(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        fin = bool(flags & FLAG_FIN)
        if not head[0] & 0x80:
            return Data(int.from_bytes(head[:4], "big") & 0x7FFFFFFF, payload, fin)
        version = int.from_bytes(head[:2], "big") & 0x7FFF
        kind = int.from_bytes(head[2:4], "big")
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        if kind == SYN_STREAM and len(payload) >= 10:
            sid = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            return SynStream(sid, self._headers(payload[10:]), fin)
        if kind == SYN_REPLY and len(payload) >= 4:
            sid = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            return SynReply(sid, self._headers(payload[4:]), fin)
        if kind == RST_STREAM and len(payload) >= 8:
            sid, status = struct.unpack(">II", payload[:8])
            return RstStream(sid & 0x7FFFFFFF, status)
        if kind == PING and len(payload) >= 4:
            return Ping(struct.unpack(">I", payload[:4])[0])
        if kind == GOAWAY and len(payload) >= 8:
            last, status = struct.unpack(">II", payload[:8])
            return GoAway(last & 0x7FFFFFFF, status)
        if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY):
            raise ProtocolError(f"short control frame type {kind}")
        if kind == HEADERS and len(payload) >= 4:
            self._headers(payload[4:])  # keep the compression context in step
        return Ignored(kind)


@dataclass
class FrameWriter:
    """Frames out; keeps the outbound header compression context."""

    deflate: zlib._Compress = field(default_factory=lambda: zlib.compressobj(
        zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY))

    @staticmethod
    def control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = encode_headers(headers)
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        payload = struct.pack(">IIH", stream_id, 0, 0) + self._block(headers)
        return self.control(SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None,
                  fin: bool = False) -> bytes:
        payload = struct.pack(">I", stream_id) + self._block(headers or {})
        return self.control(SYN_REPLY, FLAG_FIN if fin else 0, payload)

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        return struct.pack(">II", stream_id & 0x7FFFFFFF,
                           ((FLAG_FIN if fin else 0) << 24) | len(data)) + data

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return self.control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self.control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int, status: int = 0) -> bytes:
        return self.control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


# -- a session over a byte transport ----------------------------------------------------------
class Transport(Protocol):
    async def recv(self) -> bytes:
        """Next bytes from the peer; b"" at the end."""

    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class RawTransport:
    """The upgraded TCP/TLS connection itself (`Upgrade: SPDY/3.1`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 trailing: bytes = b"") -> None:
        self.reader, self.writer, self.pending = reader, writer, trailing

    async def recv(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        try:
            return await self.reader.read(65536)
        except (ConnectionError, OSError):
            return b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass(eq=False)
class Stream:
    id: int
    headers: dict[str, str]
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    local_closed: bool = False
    remote_closed: bool = False

    @property
    def type(self) -> str:
        return self.headers.get("streamtype", "")

    async def read(self) -> bytes | None:
        """Next data from the peer; None once it half-closed or reset the stream."""
        return await self.inbound.get()


class Session:
    """The server side of a SPDY/3.1 connection: accepts client streams, relays data."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.parser, self.writer = FrameParser(), FrameWriter()
        self.streams: dict[int, Stream] = {}
        self.accepted: asyncio.Queue[Stream | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.lock = asyncio.Lock()

    async def _send(self, data: bytes) -> None:
        if self.closed.is_set():
            return
        async with self.lock:
            try:
                await self.transport.send(data)
            except (ConnectionError, OSError):
                self._shutdown()

    async def run(self) -> None:
        """Read frames until the peer goes away; then every stream sees its end."""
        try:
            while not self.closed.is_set():
                data = await self.transport.recv()
                if not data:
                    break
                for frame in self.parser.feed(data):
                    await self._on_frame(frame)
        except ProtocolError:
            await self._send(self.writer.goaway(0, RST_PROTOCOL_ERROR))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in self.streams.values():
            if not stream.remote_closed:
                stream.remote_closed = True
                stream.inbound.put_nowait(None)
        self.accepted.put_nowait(None)

    async def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, SynStream):
            stream = Stream(frame.stream_id, frame.headers)
            self.streams[frame.stream_id] = stream
            async with self.lock:
                data = self.writer.syn_reply(frame.stream_id)
                with contextlib.suppress(ConnectionError, OSError):
                    await self.transport.send(data)
            if frame.fin:
                stream.remote_closed = True
                stream.inbound.put_nowait(None)
            self.accepted.put_nowait(stream)
        elif isinstance(frame, Data):
            target = self.streams.get(frame.stream_id)
            if target is None or target.remote_closed:
                return
            if frame.data:
                target.inbound.put_nowait(frame.data)
            if frame.fin:
                target.remote_closed = True
                target.inbound.put_nowait(None)
        elif isinstance(frame, RstStream):
            target = self.streams.get(frame.stream_id)
            if target is not None:
                target.local_closed = True
                if not target.remote_closed:
                    target.remote_closed = True
                    target.inbound.put_nowait(None)
        elif isinstance(frame, Ping):
            await self._send(self.writer.ping(frame.id))
        elif isinstance(frame, GoAway):
            self._shutdown()

    async def accept(self) -> Stream | None:
        return await self.accepted.get()

    async def write(self, stream: Stream, data: bytes, fin: bool = False) -> None:
        if stream.local_closed:
            return
        if fin:
            stream.local_closed = True
        for start in range(0, max(len(data), 1), 32768):
            chunk = data[start:start + 32768]
            last = start + 32768 >= len(data)
            await self._send(self.writer.data(stream.id, chunk, fin and last))

    async def close_stream(self, stream: Stream) -> None:
        await self.write(stream, b"", fin=True)

    async def close(self) -> None:
        await self._send(self.writer.goaway(max(self.streams, default=0)))
        self._shutdown()
        await self.transport.close()
