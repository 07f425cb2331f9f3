"""SPDY/3.1 framing and sessions, exec over SPDY with a fake process, and protobuf bodies."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from typing import Any

import pytest

from podhost.api import errors
from podhost.apiserver import exec as exec_
from podhost.apiserver import protobuf, spdy


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b",*,enq=0.")
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_frames_round_trip_split_anywhere() -> None:
    w, p = spdy.FrameWriter(), spdy.FrameParser()
    wire = (w.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"})
            + w.data(1, b"", fin=True) + w.syn_stream(3, {"streamtype": "data"})
            + w.data(3, b"GET / HTTP/1.1\r\n") + w.ping(5) + w.rst_stream(3, spdy.RST_CANCEL)
            + w.goaway(3))
    frames: list[Any] = []
    for i in range(0, len(wire), 3):
        frames += p.feed(wire[i:i + 3])
    assert frames == [
        spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}),
        spdy.Data(1, b"", True), spdy.SynStream(3, {"streamtype": "data"}),
        spdy.Data(3, b"GET / HTTP/1.1\r\n"), spdy.Ping(5), spdy.RstStream(3, 5),
        spdy.GoAway(3, 0)]
    # the first frame kubectl sends starts like this
    assert wire[:4] == bytes.fromhex("80030001") and wire[8:16] == b"\x00\x00\x00\x01" + bytes(4)


def test_bad_version_is_a_protocol_error() -> None:
    frame = struct.pack(">HHI", 0x8002, 6, 4) + b"\x00\x00\x00\x01"
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameParser().feed(frame)


class MemoryTransport:
    def __init__(self) -> None:
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent = bytearray()

    async def recv(self) -> bytes:
        return await self.inbound.get()

    async def send(self, data: bytes) -> None:
        self.sent += data

    async def close(self) -> None:
        self.inbound.put_nowait(b"")


class FakeProcess:
    def __init__(self) -> None:
        self.stdin = bytearray()
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    async def read(self) -> tuple[int, bytes] | None:
        return await self.output.get()

    async def write(self, data: bytes) -> None:
        self.stdin += data

    async def close_stdin(self) -> None:
        self.output.put_nowait((1, bytes(self.stdin).upper()))
        self.output.put_nowait((2, b"warn\n"))
        self.output.put_nowait(None)

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int:
        return 3

    def kill(self) -> None: ...


class FakeNode:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def exec(self, *args: Any, **kw: Any) -> FakeProcess:
        if self.fail:
            raise errors.InternalError("Internal error occurred: boom")
        return FakeProcess()


def _client_streams(w: spdy.FrameWriter, kinds: list[str]) -> bytes:
    return b"".join(w.syn_stream(2 * i + 1, {"streamtype": k}) for i, k in enumerate(kinds))


def test_exec_over_spdy_streams_stdin_output_and_exit_status() -> None:
    async def go() -> list[Any]:
        transport = MemoryTransport()
        conn = spdy.Session(transport)
        runner = asyncio.ensure_future(conn.run())
        w = spdy.FrameWriter()
        kinds = ["error", "stdin", "stdout", "stderr"]
        transport.inbound.put_nowait(_client_streams(w, kinds) + w.data(3, b"abc")
                                     + w.data(3, b"", fin=True))
        await exec_.SpdyExec(conn).run(FakeNode(), "default", "p", "c", ["tr"], set(kinds),
                                       tty=False)
        await conn.close()
        await runner
        return spdy.FrameParser().feed(bytes(transport.sent))

    frames = asyncio.run(go())
    assert [f.stream_id for f in frames if isinstance(f, spdy.SynReply)] == [1, 3, 5, 7]
    data = [(f.stream_id, f.data, f.fin) for f in frames if isinstance(f, spdy.Data)]
    assert (5, b"ABC", False) in data and (7, b"warn\n", False) in data
    status = json.loads(next(d for s, d, _ in data if s == 1 and d))
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert {(s, fin) for s, d, fin in data if not d} >= {(1, True), (5, True), (7, True)}


def test_exec_start_failure_goes_on_the_error_stream() -> None:
    async def go() -> list[Any]:
        transport = MemoryTransport()
        conn = spdy.Session(transport)
        runner = asyncio.ensure_future(conn.run())
        w = spdy.FrameWriter()
        transport.inbound.put_nowait(_client_streams(w, ["error", "stdout"]))
        await exec_.SpdyExec(conn).run(FakeNode(fail=True), "default", "p", "c", ["x"],
                                       {"error", "stdout"}, tty=False)
        await conn.close()
        await runner
        return spdy.FrameParser().feed(bytes(transport.sent))

    frames = asyncio.run(go())
    error = next(f for f in frames if isinstance(f, spdy.Data) and f.stream_id == 1 and f.data)
    assert json.loads(error.data)["message"] == "Internal error occurred: boom"


_varint = protobuf.encode_varint
_field = protobuf.encode_field


def test_protobuf_configmap_and_secret() -> None:
    meta = _field(1, b"cfg") + _field(2, b"") + _field(11, _field(1, b"app") + _field(2, b"x"))
    raw = _field(1, meta) + _field(2, _field(1, b"a") + _field(2, b"1"))
    unknown = _field(1, _field(1, b"v1") + _field(2, b"ConfigMap")) + _field(2, raw)
    obj = protobuf.decode(protobuf.MAGIC + unknown, "ConfigMap")
    assert obj == {"kind": "ConfigMap", "apiVersion": "v1",
                   "metadata": {"name": "cfg", "labels": {"app": "x"}}, "data": {"a": "1"}}
    raw = _field(1, _field(1, b"s")) + _field(2, _field(1, b"k") + _field(2, b"v")) \
        + _field(3, b"")
    unknown = _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, raw)
    assert protobuf.decode(protobuf.MAGIC + unknown, "Secret") == {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": {"k": "dg=="}}


def test_protobuf_errors() -> None:
    with pytest.raises(errors.UnsupportedMediaError):
        protobuf.decode(protobuf.MAGIC, "Pod")
    with pytest.raises(errors.BadRequestError) as e:
        protobuf.decode(b"{}", "ConfigMap")
    assert "expected prefix [107 56 115 0]" in e.value.message
    with pytest.raises(errors.BadRequestError):
        protobuf.decode(protobuf.MAGIC + b"\x0a\xff", "ConfigMap")
