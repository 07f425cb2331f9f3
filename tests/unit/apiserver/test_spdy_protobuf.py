"""SPDY/3.1 framing and sessions, exec over SPDY with a fake process, and protobuf bodies."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from podhost import protowire
from podhost.api import errors
from podhost.apiserver import exec as exec_
from podhost.apiserver import protobuf, spdy
from podhost.apiserver.http import Request
from podhost.store.sqlite import Store


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


def running_pod_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "db.sqlite")
    store.create("pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}})
    return store


def exec_over_spdy(tmp_path: Path, node: FakeNode, query: str, client_frames: bytes
                   ) -> list[Any]:
    """`POST …/pods/p/exec?query` with `Upgrade: SPDY/3.1` through exec.handle, the upgraded
    connection a socket pair: the frames the server sent until it closed the connection."""
    headers = {"upgrade": "SPDY/3.1", "connection": "Upgrade",
               "x-stream-protocol-version": "v4.channel.k8s.io"}
    req = Request("POST", "/api/v1/namespaces/default/pods/p/exec",
                  parse_qs(query), headers, list(headers.items()))
    store = running_pod_store(tmp_path)

    async def go() -> bytes:
        upgrade = await exec_.handle(store, node, req, "default", "p")  # type: ignore[arg-type]
        assert ("Upgrade", "SPDY/3.1") in upgrade.headers
        server, client = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=server)
        client_reader, client_writer = await asyncio.open_connection(sock=client)
        client_writer.write(client_frames)
        await client_writer.drain()
        await asyncio.wait_for(upgrade.handler(reader, writer, b""), 10)
        sent = await asyncio.wait_for(client_reader.read(), 10)  # until the server closes
        client_writer.close()
        return sent

    try:
        return spdy.FrameParser().feed(asyncio.run(go()))
    finally:
        store.close()


def test_exec_over_spdy_streams_stdin_output_and_exit_status(tmp_path: Path) -> None:
    w = spdy.FrameWriter()
    frames = exec_over_spdy(
        tmp_path, FakeNode(), "command=tr&stdin=true&stdout=true&stderr=true",
        _client_streams(w, ["error", "stdin", "stdout", "stderr"]) + w.data(3, b"abc")
        + w.data(3, b"", fin=True))
    assert [f.stream_id for f in frames if isinstance(f, spdy.SynReply)] == [1, 3, 5, 7]
    data = [(f.stream_id, f.data, f.fin) for f in frames if isinstance(f, spdy.Data)]
    assert (5, b"ABC", False) in data and (7, b"warn\n", False) in data
    status = json.loads(next(d for s, d, _ in data if s == 1 and d))
    assert status["reason"] == "NonZeroExitCode"
    assert status["message"].endswith("error executing command [tr], exit code 3")
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert {(s, fin) for s, d, fin in data if not d} >= {(1, True), (5, True), (7, True)}


def test_exec_start_failure_goes_on_the_error_stream(tmp_path: Path) -> None:
    frames = exec_over_spdy(tmp_path, FakeNode(fail=True), "command=x&stdout=true",
                            _client_streams(spdy.FrameWriter(), ["error", "stdout"]))
    error = next(f for f in frames if isinstance(f, spdy.Data) and f.stream_id == 1 and f.data)
    assert json.loads(error.data)["message"] == "Internal error occurred: boom"


_field = protowire.encode_field


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
    widget = _field(1, _field(1, b"example.com/v1") + _field(2, b"Widget"))
    with pytest.raises(errors.UnsupportedMediaError):
        protobuf.decode(protobuf.MAGIC + widget, "Widget")
    with pytest.raises(errors.BadRequestError) as e:
        protobuf.decode(b"{}", "ConfigMap")
    assert "expected prefix [107 56 115 0]" in e.value.message
    with pytest.raises(errors.BadRequestError):
        protobuf.decode(protobuf.MAGIC + b"\x0a\xff", "ConfigMap")


def test_protowire_varints_and_fields() -> None:
    for n in (0, 1, 127, 128, 300, 2**32, 2**63 - 1, 2**64 - 1):
        data = protowire.encode_varint(n)
        assert protowire.decode_varint(data + b"\x01", 0) == (n, len(data))
    assert protowire.encode_varint(300) == b"\xac\x02"
    message = (protowire.encode_varint(1 << 3) + protowire.encode_varint(150)
               + protowire.encode_field(2, b"hi") + b"\x19" + bytes(8) + b"\x25" + bytes(4))
    assert protowire.fields(message) == [(1, 0, 150), (2, 2, b"hi"), (3, 1, bytes(8)),
                                         (4, 5, bytes(4))]
    for bad in (b"\x0a\x05ab", b"\x08", b"\x0b", b"\x08" + b"\xff" * 10):
        with pytest.raises(protowire.DecodeError):
            protowire.fields(bad)
