"""The protocol of kubelet's gRPC probe (pkg/probe/grpc), without I/O.

One unary call `/grpc.health.v1.Health/Check` over plaintext HTTP/2 (framed by `h2`), its two
protobuf messages by hand (with protowire.py's wire-format helpers), and the
outcome in kubelet's words. `HealthCall` is fed the bytes read from the socket and says what
to write; probes.py owns the socket and the deadline.
"""

from __future__ import annotations

import math
from http.client import responses
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from podhost import protowire

METHOD = "/grpc.health.v1.Health/Check"
USER_AGENT = "kube-probe/1.32"
SERVING = 1
#: HealthCheckResponse.ServingStatus names; other values print as their number, as in Go.
STATUS_NAMES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
#: grpc-go's codes.Code names, by number.
CODE_NAMES = ("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
              "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
              "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
              "Unauthenticated")
DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNKNOWN = 4, 12, 13, 14, 2
#: grpc-go's code for a response without grpc-status, by HTTP status (others: Unknown).
HTTP_CODES = {400: INTERNAL, 401: 16, 403: 7, 404: UNIMPLEMENTED, 429: UNAVAILABLE,
              502: UNAVAILABLE, 503: UNAVAILABLE, 504: UNAVAILABLE}
#: grpc-go's code for a stream reset by the server, by HTTP/2 error (others: Internal).
RST_CODES = {"REFUSED_STREAM": UNAVAILABLE, "CANCEL": 1, "ENHANCE_YOUR_CALM": 8,
             "FLOW_CONTROL_ERROR": 8, "INADEQUATE_SECURITY": 7}


# -- protobuf and gRPC message framing ---------------------------------------------------------

def encode_request(service: str) -> bytes:
    """A length-prefixed gRPC message holding HealthCheckRequest{service} (field 1, string)."""
    raw = service.encode()
    message = protowire.encode_field(1, raw) if raw else b""  # proto3 omits the default ""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def decode_status(message: bytes) -> int:
    """HealthCheckResponse.status (field 1, enum); other fields are skipped."""
    status = 0
    for number, wire, value in protowire.fields(message):
        if number == 1 and wire == 0:
            status = value - (1 << 64) if value >= 1 << 63 else value
    return status


def unframe(body: bytes) -> bytes | None:
    """The first length-prefixed message of a response body, None when there is none."""
    if len(body) < 5:
        return None
    if body[0]:
        raise ValueError("compressed message without grpc-encoding")
    size = int.from_bytes(body[1:5], "big")
    if len(body) < 5 + size:
        return None
    return body[5:5 + size]


# -- kubelet's texts ---------------------------------------------------------------------------

def go_duration(seconds: float) -> str:
    """time.Duration's String() for the probe timeout: 1s, 1m30s, 500ms."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms" if seconds else "0s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{secs:g}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def connect_timeout(addr: str, timeout: float) -> str:
    return (f'timeout: failed to connect service "{addr}" within {go_duration(timeout)}: '
            "context deadline exceeded")


def connect_error(addr: str, error: object) -> str:
    return f'error: failed to connect service at "{addr}": {error}'


def rpc_timeout(timeout: float) -> str:
    return f"timeout: health rpc did not complete within {go_duration(timeout)}"


def rpc_error(code: int, message: str, timeout: float) -> str:
    """kubelet's text for a call that ended with a gRPC status other than OK."""
    if code == UNIMPLEMENTED:
        return ("error: this server does not implement the grpc health protocol "
                f"(grpc.health.v1.Health): {message}")
    if code == DEADLINE_EXCEEDED:
        return rpc_timeout(timeout)
    name = CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else f"Code({code})"
    return f"error: health rpc probe failed: rpc error: code = {name} desc = {message}"


def outcome(headers: dict[str, str], body: bytes, timeout: float) -> tuple[bool, str]:
    """(healthy, kubelet's message) of a finished call: its headers and trailers, its body."""
    if "grpc-status" not in headers:
        http = int(headers.get(":status", "200") or 0)
        if http != 200:
            text = f"{http} ({responses.get(http, 'Unknown')})"
            return False, rpc_error(HTTP_CODES.get(http, UNKNOWN), "unexpected HTTP status code "
                                    f"received from server: {text}", timeout)
        return False, rpc_error(INTERNAL, "server closed the stream without sending trailers",
                                timeout)
    code = int(headers["grpc-status"]) if headers["grpc-status"].isdigit() else UNKNOWN
    if code != 0:
        return False, rpc_error(code, unquote(headers.get("grpc-message", "")), timeout)
    try:
        message = unframe(body)
        if message is None:
            return False, rpc_error(INTERNAL, "cardinality violation: received no response "
                                    "message from non-streaming RPC", timeout)
        status = decode_status(message)
    except ValueError as e:
        return False, rpc_error(INTERNAL, f"grpc: failed to unmarshal the received message: {e}",
                                timeout)
    if status != SERVING:
        name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
        return False, f'service unhealthy (responded with "{name}")'
    return True, "service healthy"


# -- the HTTP/2 exchange -----------------------------------------------------------------------

class HealthCall:
    """One connection and one Check call, as a state machine over the bytes of the socket.

    `ready` once the server's SETTINGS arrived (grpc-go's READY), `closed` once the connection
    is gone, `result` = (healthy, message) once the call ended."""

    def __init__(self, authority: str) -> None:
        self.authority = authority
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.ready = self.closed = False
        self.stream: int | None = None
        self.timeout = 0.0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.result: tuple[bool, str] | None = None

    def check(self, service: str, timeout: float) -> None:
        """Start the call; `timeout` is what is left of the probe's deadline."""
        self.stream, self.timeout = self.conn.get_next_available_stream_id(), timeout
        self.conn.send_headers(self.stream, [
            (":method", "POST"), (":scheme", "http"), (":path", METHOD),
            (":authority", self.authority), ("content-type", "application/grpc"),
            ("user-agent", USER_AGENT), ("te", "trailers"),
            ("grpc-timeout", f"{max(1, math.ceil(timeout * 1000))}m")])
        self.conn.send_data(self.stream, encode_request(service), end_stream=True)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def receive(self, data: bytes) -> None:
        """Feed bytes read from the socket; b"" is the end of the connection."""
        if not data:
            return self.lost("EOF")
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            return self.lost(f"connection error: {e}")
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.ready = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                if self.stream is None or (event.last_stream_id or 0) < self.stream:
                    self.lost("server sent GOAWAY")  # else the call may still end well
            elif self.stream is None or getattr(event, "stream_id", None) != self.stream:
                continue
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                self.headers.update(dict(event.headers))  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                self.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, self.stream)
            elif isinstance(event, h2.events.StreamEnded):
                self._finish(outcome(self.headers, bytes(self.body), self.timeout))
            elif isinstance(event, h2.events.StreamReset):
                error = event.error_code
                name = str(getattr(error, "name", error))
                self._finish((False, rpc_error(RST_CODES.get(name, INTERNAL), "stream terminated "
                                               f"by RST_STREAM with error code: {name}",
                                               self.timeout)))

    def lost(self, reason: str) -> None:
        """The connection ended (EOF, reset, protocol error) before the call did."""
        self.closed = True
        if self.stream is not None:
            self._finish((False, rpc_error(UNAVAILABLE, f"error reading from server: {reason}",
                                           self.timeout)))

    def _finish(self, result: tuple[bool, str]) -> None:
        if self.result is None:
            self.result = result
