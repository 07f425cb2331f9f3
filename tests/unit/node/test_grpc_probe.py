"""The gRPC probe's protocol: messages, kubelet's texts, and a call against an in-memory server."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import pytest

from podhost.node import grpcprobe
from podhost.node.grpcprobe import HealthCall, decode_status, encode_request, go_duration, outcome


def response(status: int) -> bytes:
    message = b"\x08" + bytes([status]) if status else b""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def test_encode_request() -> None:
    assert encode_request("") == b"\x00\x00\x00\x00\x00"
    assert encode_request("db") == b"\x00\x00\x00\x00\x04\x0a\x02db"
    long = encode_request("s" * 200)
    assert long[:8] == b"\x00\x00\x00\x00\xcb\x0a\xc8\x01" and long.endswith(b"s" * 200)


def test_decode_status() -> None:
    assert decode_status(b"") == 0
    assert decode_status(b"\x08\x01") == 1
    # unknown fields of every wire type are skipped; the last field 1 wins
    assert decode_status(b"\x12\x03abc\x08\x02\x19" + bytes(8) + b"\x25" + bytes(4)
                         + b"\x30\x96\x01\x08\x03") == 3
    assert decode_status(b"\x08" + b"\xff" * 9 + b"\x01") == -1
    for bad in (b"\x08", b"\x12\x05ab", b"\x0b"):
        with pytest.raises(ValueError):
            decode_status(bad)


def test_go_duration() -> None:
    assert [go_duration(t) for t in (1, 10, 0.5, 60, 90, 3600, 1.5)] == [
        "1s", "10s", "500ms", "1m0s", "1m30s", "1h0m0s", "1.5s"]


OK_HEADERS = {":status": "200", "grpc-status": "0"}


@pytest.mark.parametrize("headers, body, expected", [
    (OK_HEADERS, response(1), (True, "service healthy")),
    (OK_HEADERS, response(2), (False, 'service unhealthy (responded with "NOT_SERVING")')),
    (OK_HEADERS, response(0), (False, 'service unhealthy (responded with "UNKNOWN")')),
    (OK_HEADERS, response(3), (False, 'service unhealthy (responded with "SERVICE_UNKNOWN")')),
    (OK_HEADERS, response(7), (False, 'service unhealthy (responded with "7")')),
    ({":status": "200", "grpc-status": "5", "grpc-message": "unknown%20service"}, b"",
     (False, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service")),
    ({":status": "200", "grpc-status": "12", "grpc-message": "Method not found!"}, b"",
     (False, "error: this server does not implement the grpc health protocol "
      "(grpc.health.v1.Health): Method not found!")),
    ({":status": "200", "grpc-status": "4"}, b"",
     (False, "timeout: health rpc did not complete within 1s")),
    ({":status": "200", "grpc-status": "99"}, b"",
     (False, "error: health rpc probe failed: rpc error: code = Code(99) desc = ")),
    ({":status": "404"}, b"",
     (False, "error: this server does not implement the grpc health protocol "
      "(grpc.health.v1.Health): unexpected HTTP status code received from server: 404 (Not Found)")),
    ({":status": "200"}, response(1),
     (False, "error: health rpc probe failed: rpc error: code = Internal desc = server closed "
      "the stream without sending trailers")),
    (OK_HEADERS, b"",
     (False, "error: health rpc probe failed: rpc error: code = Internal desc = cardinality "
      "violation: received no response message from non-streaming RPC")),
    (OK_HEADERS, b"\x00\x00\x00\x00\x01\x08",
     (False, "error: health rpc probe failed: rpc error: code = Internal desc = grpc: failed "
      "to unmarshal the received message: truncated varint")),
])
def test_outcome(headers: dict[str, str], body: bytes, expected: tuple[bool, str]) -> None:
    assert outcome(headers, body, 1.0) == expected


def test_connect_texts() -> None:
    assert grpcprobe.connect_timeout("127.0.0.1:9000", 1) == (
        'timeout: failed to connect service "127.0.0.1:9000" within 1s: '
        "context deadline exceeded")
    assert grpcprobe.connect_error("[::1]:9000", "setns: EPERM") == (
        'error: failed to connect service at "[::1]:9000": setns: EPERM')


class Server:
    """The server side of an in-memory HTTP/2 connection, wired to a HealthCall."""

    def __init__(self, call: HealthCall) -> None:
        self.call = call
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.shuttle()

    def shuttle(self) -> None:
        """Move bytes both ways until both sides are quiet."""
        while True:
            out, back = self.call.data_to_send(), self.conn.data_to_send()
            if not out and not back:
                return
            for event in self.conn.receive_data(out):
                if isinstance(event, h2.events.RequestReceived):
                    self.requests.append((dict(event.headers), b""))  # type: ignore[arg-type]
                elif isinstance(event, h2.events.DataReceived):
                    headers, body = self.requests[-1]
                    self.requests[-1] = (headers, body + event.data)
            if back:
                self.call.receive(back)

    def respond(self, headers: list[tuple[str, str]], body: bytes | None,
                trailers: list[tuple[str, str]] | None) -> None:
        self.conn.send_headers(1, headers, end_stream=body is None and trailers is None)
        if body:
            self.conn.send_data(1, body)
        if trailers is not None:
            self.conn.send_headers(1, trailers, end_stream=True)
        self.shuttle()


def test_health_call_serving() -> None:
    call = HealthCall("127.0.0.1:9000")
    server = Server(call)
    assert call.ready and not call.closed and call.result is None
    call.check("db", 0.9)
    server.shuttle()
    (headers, body), = server.requests
    assert headers[":path"] == "/grpc.health.v1.Health/Check"
    assert headers[":authority"] == "127.0.0.1:9000" and headers["grpc-timeout"] == "900m"
    assert headers["content-type"] == "application/grpc" and headers["te"] == "trailers"
    assert body == encode_request("db")
    server.respond([(":status", "200"), ("content-type", "application/grpc")], response(1),
                   [("grpc-status", "0")])
    assert call.result == (True, "service healthy")


def test_health_call_trailers_only_error() -> None:
    call = HealthCall("127.0.0.1:9000")
    server = Server(call)
    call.check("", 1)
    server.shuttle()
    server.respond([(":status", "200"), ("content-type", "application/grpc"),
                    ("grpc-status", "5")], None, None)
    assert call.result == (False, "error: health rpc probe failed: rpc error: code = NotFound "
                                  "desc = ")


def test_health_call_reset_and_eof() -> None:
    call = HealthCall("a:1")
    server = Server(call)
    call.check("", 1)
    server.shuttle()
    server.conn.reset_stream(1, 2)
    server.shuttle()
    assert call.result == (False, "error: health rpc probe failed: rpc error: code = Internal "
                                  "desc = stream terminated by RST_STREAM with error code: "
                                  "INTERNAL_ERROR")
    call = HealthCall("a:1")
    call.receive(b"")  # closed before the server's SETTINGS: the dial tries again
    assert call.closed and not call.ready and call.result is None
    call = HealthCall("a:1")
    Server(call)
    call.check("", 1)
    call.receive(b"")
    assert call.result == (False, "error: health rpc probe failed: rpc error: code = Unavailable "
                                  "desc = error reading from server: EOF")


def test_health_call_garbage() -> None:
    call = HealthCall("a:1")
    call.receive(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    call.receive(b"")
    assert call.closed and not call.ready
    call = HealthCall("a:1")
    call.receive(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
    assert call.closed and not call.ready and call.result is None
