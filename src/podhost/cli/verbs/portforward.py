"""`port-forward [pod/]NAME [LOCAL:]REMOTE ...`: local listeners relayed to ports of a Pod.

One WebSocket to `pods/NAME/portforward` with subprotocol `SPDY/3.1+portforward.k8s.io` (the
tunnel kubectl 1.31+ uses, served by podhost and by kube-apiserver since 1.31) carries SPDY/3.1
frames. Each local connection opens an error stream and a data stream (headers `streamtype`,
`port`, `requestid`); bytes are relayed on the data stream, FIN half-closes, and text on the
error stream ends the port-forward as kubectl does. Runs until Ctrl-C, which exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.context import client_for
from podhost.cli.errors import CliError

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


# ---- arguments (pure) --------------------------------------------------------------------

@dataclass(frozen=True)
class PortSpec:
    local: int
    remote: int


def _port(text: str, pod: Obj | None = None) -> int:
    if not text.isdigit():
        return _named_port(text, pod)
    port = int(text)
    if not 0 < port < 65536:
        raise CliError(f"error: Port must be in the range 1 to 65535, was {text}")
    return port


def _named_port(name: str, pod: Obj | None) -> int:
    for container in ((pod or {}).get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    pod_name = ((pod or {}).get("metadata") or {}).get("name", "")
    raise CliError(f"error: Pod '{pod_name}' does not have a named port '{name}'")


def parse_ports(specs: list[str], pod: Obj | None = None) -> list[PortSpec]:
    """`8080:80`, `80` (same local port), `:80` (any free local port), `8080:http`."""
    out = []
    for spec in specs:
        local, _, remote = spec.rpartition(":") if ":" in spec else (spec, ":", spec)
        out.append(PortSpec(_port(local) if local else 0, _port(remote, pod)))
    return out


def parse_addresses(values: list[str] | None) -> list[str]:
    """`--address` values, comma separated; `localhost` is 127.0.0.1 and ::1."""
    out: list[str] = []
    for value in values or ["127.0.0.1"]:
        for address in filter(None, (a.strip() for a in value.split(","))):
            out += ["127.0.0.1", "::1"] if address == "localhost" else [address]
    return list(dict.fromkeys(out))


def host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# ---- the SPDY tunnel -----------------------------------------------------------------------

@dataclass
class Forward:
    """One local connection and its pair of SPDY streams."""

    sock: socket.socket
    local: int
    remote: int
    error_id: int
    data_id: int
    error_text: bytearray = field(default_factory=bytearray)
    sent_fin: bool = False
    got_fin: bool = False


class LostConnection(Exception):
    pass


class Tunnel:
    """The client side of SPDY/3.1 over a wsexec.Session: odd stream ids, frames in messages."""

    def __init__(self, session: Any) -> None:
        from podhost.apiserver.spdy import FrameParser, FrameWriter
        self.session = session
        self.parser, self.writer = FrameParser(), FrameWriter()
        self.next_id, self.next_request = 1, 0

    def open_pair(self, port: int) -> tuple[int, int]:
        """SYN_STREAM for the error stream (closed by us at once) and the data stream."""
        request_id = str(self.next_request)
        self.next_request += 1
        ids = []
        for kind in ("error", "data"):
            headers = {"streamtype": kind, "port": str(port), "requestid": request_id}
            self.session.send_bytes(self.writer.syn_stream(self.next_id, headers,
                                                           fin=kind == "error"))
            ids.append(self.next_id)
            self.next_id += 2
        return ids[0], ids[1]

    def send(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        self.session.send_bytes(self.writer.data(stream_id, data, fin))

    def reset(self, stream_id: int) -> None:
        from podhost.apiserver.spdy import RST_CANCEL
        self.session.send_bytes(self.writer.rst_stream(stream_id, RST_CANCEL))

    def frames(self) -> list[Any]:
        """Frames from one read of the WebSocket; LostConnection once it has ended."""
        from wsproto.events import BytesMessage, CloseConnection, TextMessage

        from podhost.apiserver import spdy
        events, self.session.pending = self.session.pending + self.session.events(), []
        frames: list[Any] = []
        for event in events:
            if event is None or isinstance(event, CloseConnection):
                raise LostConnection()
            if isinstance(event, (BytesMessage, TextMessage)):
                data = event.data.encode() if isinstance(event.data, str) else bytes(event.data)
                try:
                    frames += self.parser.feed(data)
                except spdy.ProtocolError as e:
                    raise LostConnection() from e
        for frame in frames:
            if isinstance(frame, spdy.Ping):
                self.session.send_bytes(self.writer.ping(frame.id))
            elif isinstance(frame, spdy.GoAway):
                raise LostConnection()
        return frames


class PortForwarder:
    """Listeners, local connections and the tunnel, in one select loop."""

    def __init__(self, tunnel: Tunnel, listeners: list[tuple[socket.socket, PortSpec]]) -> None:
        self.tunnel, self.listeners = tunnel, dict(listeners)
        self.forwards: dict[int, Forward] = {}  # by data and by error stream id
        self.by_sock: dict[socket.socket, Forward] = {}

    def run(self) -> None:
        ws = self.tunnel.session
        while True:
            readable = list(self.listeners) + list(self.by_sock) + [ws.sock]
            ready = [ws.sock] if ws.readable() else select.select(readable, [], [])[0]
            for sock in ready:
                if sock is ws.sock:
                    self.on_frames(self.tunnel.frames())
                elif sock in self.listeners:
                    self.accept(sock)
                elif sock in self.by_sock:
                    self.from_local(self.by_sock[sock])

    def accept(self, listener: socket.socket) -> None:
        spec = self.listeners[listener]
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        local = spec.local or listener.getsockname()[1]
        print(f"Handling connection for {local}", flush=True)
        error_id, data_id = self.tunnel.open_pair(spec.remote)
        forward = Forward(sock, local, spec.remote, error_id, data_id)
        self.forwards[error_id] = self.forwards[data_id] = forward
        self.by_sock[sock] = forward

    def from_local(self, forward: Forward) -> None:
        try:
            data = forward.sock.recv(65536)
        except OSError:
            data = b""
        if data:
            self.tunnel.send(forward.data_id, data)
            return
        self.tunnel.send(forward.data_id, b"", fin=True)
        forward.sent_fin = True
        self.by_sock.pop(forward.sock, None)  # nothing more to read; replies may still come
        self.finish_if_done(forward)

    def on_frames(self, frames: list[Any]) -> None:
        from podhost.apiserver import spdy
        for frame in frames:
            forward = self.forwards.get(getattr(frame, "stream_id", -1))
            if forward is None:
                continue
            if isinstance(frame, spdy.RstStream):
                self.close(forward)
            elif isinstance(frame, spdy.Data) and frame.stream_id == forward.error_id:
                forward.error_text += frame.data
                if frame.fin and forward.error_text:
                    self.fail(forward)
            elif isinstance(frame, spdy.Data):
                self.to_local(forward, frame.data, frame.fin)

    def to_local(self, forward: Forward, data: bytes, fin: bool) -> None:
        try:
            if data:
                forward.sock.sendall(data)
            if fin:
                forward.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.tunnel.reset(forward.data_id)
            self.close(forward)
            return
        if fin:
            forward.got_fin = True
            self.finish_if_done(forward)

    def finish_if_done(self, forward: Forward) -> None:
        if forward.sent_fin and forward.got_fin:
            self.close(forward)

    def close(self, forward: Forward) -> None:
        for key in (forward.error_id, forward.data_id):
            self.forwards.pop(key, None)
        self.by_sock.pop(forward.sock, None)
        forward.sock.close()

    def fail(self, forward: Forward) -> None:
        text = forward.error_text.decode(errors="replace")
        self.close(forward)
        print(f"an error occurred forwarding {forward.local} -> {forward.remote}: {text}",
              file=sys.stderr, flush=True)
        raise LostConnection()

    def shutdown(self) -> None:
        for forward in list(self.by_sock.values()) + list(self.forwards.values()):
            with contextlib.suppress(OSError):
                forward.sock.close()
        for listener in self.listeners:
            listener.close()
        self.tunnel.session.close()


# ---- the verb ----------------------------------------------------------------------------

def listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as e:
        sock.close()
        raise CliError(f"error: unable to listen on port {port}: Listeners failed to create "
                       f"with the following errors: [unable to create listener: Error listen "
                       f"tcp4 {host_port(address, port)}: bind: {e.strerror}]") from e
    sock.listen(128)
    return sock


def open_listeners(addresses: list[str], specs: list[PortSpec]
                   ) -> list[tuple[socket.socket, PortSpec]]:
    out: list[tuple[socket.socket, PortSpec]] = []
    try:
        for spec in specs:
            port = spec.local
            for address in addresses:
                sock = listen(address, port)
                port = port or sock.getsockname()[1]  # `:80`: the same free port everywhere
                print(f"Forwarding from {host_port(address, port)} -> {spec.remote}",
                      flush=True)
                out.append((sock, spec))
    except CliError:
        for sock, _ in out:
            sock.close()
        raise
    return out


def check_running(pod: Obj) -> None:
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise CliError(f"error: unable to forward port because pod is not running. "
                       f"Current status={phase}")


def port_forward(args: argparse.Namespace) -> int:
    from podhost.cli import wsexec
    from podhost.cli.verbs.pods import get_pod, pod_name
    # Ctrl-C ends the forward even when started with SIGINT ignored (a background job of a
    # non-interactive shell), as kubectl's signal.Notify does
    signal.signal(signal.SIGINT, signal.default_int_handler)
    client = client_for(args)
    ns, name = client.namespace, pod_name(args.pod)
    pod = get_pod(client, ns, name)
    check_running(pod)
    specs = parse_ports(args.ports, pod)
    path = clientmod.resource_path("pods", ns, name, "portforward")
    session = wsexec.Session(client, path, TUNNEL_PROTOCOL)
    try:
        listeners = open_listeners(parse_addresses(args.address), specs)
    except CliError:
        session.close()
        raise
    forwarder = PortForwarder(Tunnel(session), listeners)
    try:
        forwarder.run()
    except KeyboardInterrupt:
        return 0
    except (LostConnection, OSError):
        raise CliError("error: lost connection to pod") from None
    finally:
        forwarder.shutdown()
    return 0
