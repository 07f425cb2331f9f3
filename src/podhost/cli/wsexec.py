"""A v5.channel.k8s.io WebSocket client for `exec` (and `cp`, which is tar over exec).

Channels: 0 stdin, 1 stdout, 2 stderr, 3 status (one metav1.Status), 4 resize, 255 close.
`Session` (handshake, framed I/O) also carries port-forward's SPDY tunnel (verbs/portforward.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from podhost.cli.client import Client
from podhost.cli.errors import CliError

PROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_code(status: dict[str, Any] | None) -> int:
    """Exit code from the channel-3 Status; raise for failures that are not an exit code."""
    if not status or status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", "1"))
        raise CliError("error: error stream protocol error: details must be set")
    raise CliError(f"error: {status.get('message', 'unknown error')}")


def resize_message(width: int, height: int) -> bytes:
    return bytes([RESIZE]) + json.dumps({"Width": width, "Height": height}).encode() + b"\n"


class Session:
    """One WebSocket: handshake, then framed channel I/O on a blocking socket."""

    def __init__(self, client: Client, path: str, protocol: str = PROTOCOL) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock = self._connect(client)
        headers = [(k.encode(), v.encode()) for k, v in client.headers().items()
                   if k in ("Authorization", "User-Agent")]
        host = client.conn.server.split("://", 1)[-1]
        self.sock.sendall(self.ws.send(Request(host=host, target=path, subprotocols=[protocol],
                                               extra_headers=headers)))
        self.pending: list[Any] = []
        self._handshake()

    @staticmethod
    def _connect(client: Client) -> socket.socket:
        scheme, host, port = client._address()
        try:
            raw = socket.create_connection((host, port), timeout=30)
        except OSError as e:
            from podhost.cli.hints import unreachable
            raise CliError(unreachable(client.conn.server, e)) from e
        raw.settimeout(None)
        if scheme == "https":
            from podhost.cli.client import ssl_context
            if client._ctx is None:
                client._ctx = ssl_context(client.conn)
            return client._ctx.wrap_socket(raw, server_hostname=host)
        return raw

    def _handshake(self) -> None:
        from wsproto.events import AcceptConnection, RejectConnection, RejectData
        body, rejected = b"", None
        while True:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    rejected = event.status_code
                    if not event.has_body:
                        raise self._rejection(rejected, body)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        raise self._rejection(rejected or 400, body)
                else:
                    self.pending.append(event)
            if not data:
                raise self._rejection(rejected or 500, body)

    @staticmethod
    def _rejection(code: int, body: bytes) -> CliError:
        from podhost.cli.client import status_error
        err = status_error(code, body)
        return CliError(f"error: {err.status.get('message')}") if code == 400 else err

    def send(self, channel: int, data: bytes) -> None:
        self.send_bytes(bytes([channel]) + data)

    def send_bytes(self, data: bytes) -> None:
        from wsproto.events import BytesMessage
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))

    def close_stdin(self) -> None:
        self.send(CLOSE, bytes([STDIN]))

    def close(self) -> None:
        """A normal WebSocket close, then the socket (errors of a dead peer ignored)."""
        from wsproto.events import CloseConnection
        with contextlib.suppress(Exception):
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        self.sock.close()

    def events(self) -> list[Any]:
        """Read once from the socket and return the decoded events (None on EOF)."""
        from wsproto.events import Ping
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        out = []
        for event in self.ws.events():
            if isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            else:
                out.append(event)
        return out if data else out + [None]

    def readable(self) -> bool:
        return bool(getattr(self.sock, "pending", lambda: 0)())


def run(session: Session, stdin: BinaryIO | None, stdout: BinaryIO, stderr: BinaryIO,
        on_ready: Callable[[], None] | None = None) -> int:
    """Pump stdin → channel 0 and channels 1/2 → stdout/stderr until the status arrives."""
    from wsproto.events import BytesMessage, CloseConnection, TextMessage
    status: dict[str, Any] | None = None
    buffers: dict[int, bytearray] = {}
    in_fd = stdin.fileno() if stdin is not None else None
    if on_ready:
        on_ready()
    while True:
        fds = [session.sock] + ([in_fd] if in_fd is not None else [])
        ready = [session.sock] if session.readable() else select.select(fds, [], [])[0]
        if in_fd is not None and in_fd in ready:
            chunk = os.read(in_fd, 65536)
            if chunk:
                session.send(STDIN, chunk)
            else:
                session.close_stdin()
                in_fd = None
        if session.sock not in ready:
            continue
        for event in session.pending + session.events():
            if event is None or isinstance(event, CloseConnection):
                return exit_code(status)
            if isinstance(event, (BytesMessage, TextMessage)):
                data = event.data.encode() if isinstance(event.data, str) else bytes(event.data)
                buf = buffers.setdefault(0, bytearray())
                buf += data
                if not event.message_finished:
                    continue
                message = bytes(buf)
                buf.clear()
                status = _dispatch(message, stdout, stderr) or status
        session.pending = []


def _dispatch(message: bytes, stdout: BinaryIO, stderr: BinaryIO) -> dict[str, Any] | None:
    if not message:
        return None
    channel, payload = message[0], message[1:]
    if channel == STDOUT:
        stdout.write(payload)
        stdout.flush()
    elif channel == STDERR:
        stderr.write(payload)
        stderr.flush()
    elif channel == STATUS and payload:
        status: dict[str, Any] = json.loads(payload)
        return status
    return None


def terminal_size() -> tuple[int, int]:
    size = os.get_terminal_size(sys.stdout.fileno())
    return size.columns, size.lines
