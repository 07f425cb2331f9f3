"""Probes and lifecycle-hook handlers as kubelet runs them (pkg/kubelet/prober, lifecycle).

Pure parts: `ProbeSpec` (a probe's settings with Kubernetes' defaults), `ProbeCounter` (the
success/failure thresholds), `resolve_port` and the result texts. I/O parts: `exec_action`
(through the runtime's exec), `http_get`, `tcp_socket` and `grpc_check` (sockets made inside
the Pod's network namespace by a fresh thread that joined it with setns(2), then used from
asyncio; the gRPC protocol itself is in grpcprobe.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import os
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podhost.api.types import Obj
from podhost.node import grpcprobe

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

#: Output kept from an exec probe or hook (kubelet caps probe output at 10 KiB).
MAX_OUTPUT = 10 * 1024


class ProbeError(Exception):
    """A handler could not run or failed; the text is kubelet's probe message.

    For an exec handler that ran and failed, exit_code and output are set."""

    def __init__(self, message: str, exit_code: int | None = None, output: str = "") -> None:
        super().__init__(message)
        self.exit_code, self.output = exit_code, output


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    kind: str  # "Liveness", "Readiness" or "Startup"
    handler: Obj
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    grace: float | None = None  # probe-level terminationGracePeriodSeconds

    @classmethod
    def of(cls, kind: str, probe: Obj) -> ProbeSpec:
        return cls(kind, probe, float(probe.get("initialDelaySeconds") or 0),
                   float(probe.get("periodSeconds") or 10),
                   float(probe.get("timeoutSeconds") or 1),
                   int(probe.get("successThreshold") or 1),
                   int(probe.get("failureThreshold") or 3),
                   probe.get("terminationGracePeriodSeconds"))


def container_probes(container: Obj) -> dict[str, ProbeSpec]:
    """{kind: ProbeSpec} of the probes a container declares."""
    out = {}
    for kind, key in (("Startup", "startupProbe"), ("Liveness", "livenessProbe"),
                      ("Readiness", "readinessProbe")):
        if container.get(key):
            out[kind] = ProbeSpec.of(kind, container[key])
    return out


@dataclass
class ProbeCounter:
    """Consecutive results against the thresholds; `result` is the probe's current verdict."""

    success_threshold: int
    failure_threshold: int
    result: bool | None = None
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool) -> bool | None:
        """Count one result; returns the new verdict when it changed (None otherwise)."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold and self.result is not True:
                self.result = True
                return True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold and self.result is not False:
                self.result = False
                return False
        return None

    def reset(self) -> None:
        self.result, self.successes, self.failures = None, 0, 0


def resolve_port(port: Any, container: Obj) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ProbeError(f"couldn't find port: {port} in {container.get('name')}")


def handler_kind(handler: Obj) -> str:
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        if handler.get(kind) is not None:
            return kind
    return ""


# -- sockets in the Pod's network namespace --------------------------------------------------

def socket_in_netns(netns: Path, family: int) -> socket.socket:
    """A new TCP socket of the network namespace `netns`, made by a dedicated thread."""
    box: list[Any] = []

    def body() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box.append(socket.socket(family, socket.SOCK_STREAM))
        except BaseException as e:  # reported to the caller
            box.append(e)

    # Never a pool thread: once it joined the Pod's namespace it must do nothing else.
    thread = threading.Thread(target=body, name="podhost-probe", daemon=True)
    thread.start()
    thread.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    sock: socket.socket = box[0]
    sock.setblocking(False)
    return sock


async def _connect(netns: Path, host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = await asyncio.to_thread(socket_in_netns, netns, family)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError as e:
        sock.close()
        reason = (e.strerror or str(e)).lower()
        raise ProbeError(f"dial tcp {_hostport(host, port)}: connect: {reason}") from None
    return sock


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def tcp_socket(netns: Path, action: Obj, container: Obj, timeout: float,
                     pod_ip: str) -> str:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    try:
        sock = await asyncio.wait_for(_connect(netns, host, port), timeout)
    except TimeoutError:
        raise ProbeError(f"dial tcp {_hostport(host, port)}: i/o timeout") from None
    sock.close()
    return ""


def http_request(action: Obj, host: str, port: int) -> tuple[str, bytes]:
    """The URL kubelet reports and the request bytes it sends (pure)."""
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    scheme = (action.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{_hostport(host, port)}{path}"
    headers = {"Host": _hostport(host, port), "User-Agent": "kube-probe/1.32",
               "Accept": "*/*", "Connection": "close"}
    for h in action.get("httpHeaders") or []:
        name = "-".join(p.capitalize() for p in h["name"].split("-"))
        headers[name] = h.get("value", "")
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return url, "\r\n".join(lines).encode("latin-1", "replace")


def http_status(head: bytes) -> int:
    """The status code of an HTTP/1.x response head (pure)."""
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError("malformed HTTP response")
    return int(parts[1])


async def _http_get(netns: Path, action: Obj, container: Obj, pod_ip: str) -> str:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    url, request = http_request(action, host, port)
    sock = await _connect(netns, host, port)
    ctx = None
    if (action.get("scheme") or "HTTP").upper() == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        reader, writer = await asyncio.open_connection(sock=sock, ssl=ctx,
                                                       server_hostname=host if ctx else None)
    except OSError as e:
        sock.close()
        raise ProbeError(f'Get "{url}": {e}') from None
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        code = http_status(head)
        body = await reader.read(MAX_OUTPUT)
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise ProbeError(f'Get "{url}": {e or "EOF"}') from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if 200 <= code < 400:
        return body.decode("utf-8", "replace")
    raise ProbeError(f"HTTP probe failed with statuscode: {code}")


async def http_get(netns: Path, action: Obj, container: Obj, timeout: float,
                   pod_ip: str) -> str:
    try:
        return await asyncio.wait_for(_http_get(netns, action, container, pod_ip), timeout)
    except TimeoutError:
        host = action.get("host") or pod_ip
        port = resolve_port(action.get("port"), container)
        url, _ = http_request(action, host, port)
        raise ProbeError(f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
                         "while awaiting headers)") from None


def _settled(call: grpcprobe.HealthCall) -> bool:
    return call.ready or call.closed


async def _h2_pump(sock: socket.socket, call: grpcprobe.HealthCall,
                   until: Callable[[], bool]) -> None:
    """Write what `call` has to send and feed it what the server sends, until `until()`."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            if out := call.data_to_send():
                await loop.sock_sendall(sock, out)
            if until():
                return
            call.receive(await loop.sock_recv(sock, 65536))
        except OSError as e:
            return call.lost((e.strerror or str(e)).lower())


async def _grpc_dial(netns: Path, host: str,
                     port: int) -> tuple[socket.socket, grpcprobe.HealthCall]:
    """Connect until the server's HTTP/2 SETTINGS arrive. Like grpc-go's blocking dial, a
    refused or failed connection is tried again (back-off 1s, x1.6) until the deadline."""
    backoff = 1.0
    while True:
        try:
            sock = await _connect(netns, host, port)
        except ProbeError:
            sock = None
        if sock is not None:
            call = grpcprobe.HealthCall(_hostport(host, port))
            try:
                await _h2_pump(sock, call, functools.partial(_settled, call))
            except BaseException:
                sock.close()
                raise
            if call.ready:
                return sock, call
            sock.close()
        await asyncio.sleep(backoff)
        backoff *= 1.6


async def grpc_check(netns: Path, action: Obj, container: Obj, timeout: float,
                     pod_ip: str) -> str:
    """kubelet's gRPC probe: grpc.health.v1.Health/Check for `service`, SERVING or failure."""
    port = resolve_port(action.get("port"), container)
    addr = _hostport(pod_ip, port)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            sock, call = await _grpc_dial(netns, pod_ip, port)
    except TimeoutError:
        raise ProbeError(grpcprobe.connect_timeout(addr, timeout)) from None
    except OSError as e:  # the Pod's network namespace could not be joined
        raise ProbeError(grpcprobe.connect_error(addr, e)) from None
    try:
        async with asyncio.timeout_at(deadline):
            call.check(action.get("service") or "",
                       deadline - asyncio.get_running_loop().time())
            await _h2_pump(sock, call, lambda: call.result is not None)
    except TimeoutError:
        raise ProbeError(grpcprobe.rpc_timeout(timeout)) from None
    finally:
        sock.close()
    assert call.result is not None
    ok, message = call.result
    if not ok:
        raise ProbeError(message)
    return message


ExecFn = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


async def exec_action(run: ExecFn, action: Obj, timeout: float) -> str:
    """Run an exec handler; success is exit status 0. `run(argv, timeout)` -> (code, output)."""
    command = list(action.get("command") or [])
    if not command:
        raise ProbeError("exec action has no command")
    try:
        code, output = await run(command, timeout)
    except TimeoutError:
        raise ProbeError(f"command {_quote(command)} timed out") from None
    text = output[:MAX_OUTPUT].decode("utf-8", "replace")
    if code != 0:
        raise ProbeError(text, code, text)
    return text


def _quote(command: list[str]) -> str:
    return "'" + " ".join(command) + "'"


async def run_handler(handler: Obj, *, run: ExecFn, netns: Path, container: Obj,
                      timeout: float, pod_ip: str) -> str:
    """Run one probe/hook handler; its output on success, ProbeError with kubelet's text."""
    kind = handler_kind(handler)
    if kind == "exec":
        return await exec_action(run, handler["exec"], timeout)
    if kind == "httpGet":
        return await http_get(netns, handler["httpGet"], container, timeout, pod_ip)
    if kind == "tcpSocket":
        return await tcp_socket(netns, handler["tcpSocket"], container, timeout, pod_ip)
    if kind == "sleep":
        await asyncio.sleep(min(float(handler["sleep"].get("seconds") or 0), timeout))
        return ""
    if kind == "grpc":
        return await grpc_check(netns, handler["grpc"], container, timeout, pod_ip)
    raise ProbeError("missing probe handler")
