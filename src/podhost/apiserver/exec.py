"""`pods/exec` over WebSocket with the channel protocols v5.channel.k8s.io and v4.channel.k8s.io.
The transports serve any started ExecProcess: `pods/attach` (attach.py) uses them too.

Every request problem (Pod or container missing, Pod finished) is answered before the upgrade,
identically for the WebSocket GET and the SPDY POST, so kubectl shows the same error whichever
transport it tried last. After the upgrade, the process's exit arrives as a Status on channel 3.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

from podhost.api import errors
from podhost.api.nodeapi import ExecProcess, NodeBackend
from podhost.apiserver import spdy
from podhost.apiserver.http import Request, Upgrade
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
Start = Callable[[bool], Awaitable[ExecProcess]]  # stdin wanted -> the process (or ApiError)
Finish = Callable[[int], dict[str, Any]]  # exit code -> the Status sent on the error channel


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The channel-3 Status for a finished process, as the kubelet writes it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(err: errors.ApiError) -> dict[str, Any]:
    status = err.to_status()
    status.pop("kind", None)
    status.pop("apiVersion", None)
    status.setdefault("details", {}).setdefault("causes", [{"message": err.message}])
    return status


def check_target(store: Store, ns: str, name: str, container: str | None,
                 action: str = "exec into") -> str:
    """Validate the exec (or attach) target; returns the container name."""
    pod = store.get("pods", ns, name)
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.BadRequestError(f"cannot {action} a container in a completed pod; current "
                                     f"phase is {phase}")
    names = [c["name"] for c in pod["spec"].get("containers", [])] + \
        [c["name"] for c in pod["spec"].get("initContainers", [])] + \
        [c["name"] for c in pod["spec"].get("ephemeralContainers", [])]
    if not container:
        if len(pod["spec"]["containers"]) != 1:
            raise errors.BadRequestError(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(c['name'] for c in pod['spec']['containers'])}]")
        container = pod["spec"]["containers"][0]["name"]
    if container not in names:
        raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
    running = [s for s in [*pod.get("status", {}).get("containerStatuses", []),
                           *pod.get("status", {}).get("initContainerStatuses", []),
                           *pod.get("status", {}).get("ephemeralContainerStatuses", [])]
               if s.get("name") == container and "running" in s.get("state", {})]
    if not running:
        raise errors.BadRequestError(f'unable to upgrade connection: container not found '
                                     f'("{container}")')
    return container


async def handle(store: Store, node: NodeBackend, request: Request, ns: str,
                 name: str) -> Upgrade:
    command = request.query.get("command", [])
    container = check_target(store, ns, name, request.arg("container"))
    if not command:
        raise errors.BadRequestError("you must specify at least 1 command")
    tty = request.flag("tty")

    def start(stdin: bool) -> Awaitable[ExecProcess]:
        return node.exec(ns, name, container, command, tty=tty, stdin=stdin)

    return upgrade(request, start, lambda code: exit_status(code, command))


def upgrade(request: Request, start: Start, finish: Finish) -> Upgrade:
    """Serve the process `start` makes over SPDY/3.1 or WebSocket, as the request asks."""
    tty, stdin = request.flag("tty"), request.flag("stdin")
    stderr = request.flag("stderr") and not tty
    if request.headers.get("upgrade", "").lower() == "spdy/3.1":
        return spdy_upgrade(request, start, finish, tty=tty, stdin=stdin,
                            stdout=request.flag("stdout"), stderr=stderr)
    if request.headers.get("upgrade", "").lower() != "websocket":
        raise errors.BadRequestError("Upgrade request required: podhost serves exec over "
                                     "WebSocket (kubectl 1.30 or newer)")
    offered = request.header_values("sec-websocket-protocol")
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    if protocol is None:
        raise errors.BadRequestError(f"unable to upgrade connection: none of the offered "
                                     f"subprotocols {offered} is supported; use one of "
                                     f"{list(PROTOCOLS)}")
    key = request.headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept), ("Sec-WebSocket-Protocol", protocol)]

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      trailing: bytes) -> None:
        ws = ExecWebSocket(reader, writer, trailing)
        await ws.run(start, finish, stdin=stdin, stderr=stderr)

    return Upgrade(headers, session)


SPDY_PROTOCOLS = ("v4.channel.k8s.io",)


def spdy_upgrade(request: Request, start: Start, finish: Finish, *, tty: bool, stdin: bool,
                 stdout: bool, stderr: bool) -> Upgrade:
    """`POST …/exec` with `Upgrade: SPDY/3.1` (kubectl 1.29, and the fallback of newer ones)."""
    offered = request.header_values("x-stream-protocol-version")
    protocol = next((p for p in SPDY_PROTOCOLS if p in offered), None)
    if protocol is None:
        raise errors.ForbiddenError(f"unable to upgrade connection: none of the requested "
                                    f"protocols {offered} are supported; use one of "
                                    f"{list(SPDY_PROTOCOLS)}")
    headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
               ("X-Stream-Protocol-Version", protocol)]
    expected = {"error"} | ({"stdin"} if stdin else set()) | ({"stdout"} if stdout else set()) \
        | ({"stderr"} if stderr else set()) | ({"resize"} if tty else set())

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      trailing: bytes) -> None:
        conn = spdy.Session(spdy.RawTransport(reader, writer, trailing))
        runner = asyncio.ensure_future(conn.run())
        try:
            await SpdyExec(conn).serve(start, finish, expected)
        finally:
            await conn.close()
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner

    return Upgrade(headers, session)


class SpdyExec:
    """One exec session over SPDY streams (error, stdin, stdout, stderr, resize)."""

    STREAM_TIMEOUT = 30.0

    def __init__(self, conn: spdy.Session) -> None:
        self.conn = conn
        self.streams: dict[str, spdy.Stream] = {}

    async def _collect(self, expected: set[str]) -> bool:
        async def gather() -> bool:
            while not expected <= set(self.streams):
                stream = await self.conn.accept()
                if stream is None:
                    return False
                self.streams[stream.type] = stream
            return True
        try:
            return await asyncio.wait_for(gather(), self.STREAM_TIMEOUT)
        except TimeoutError:
            return False

    async def serve(self, start: Start, finish: Finish, expected: set[str]) -> None:
        if not await self._collect(expected):
            return
        try:
            process = await start("stdin" in self.streams)
        except errors.ApiError as e:
            await self.finish(error_status(e))
            return
        inbound = [asyncio.ensure_future(self.pump_stdin(process))]
        if "resize" in self.streams:
            inbound.append(asyncio.ensure_future(self.pump_resize(process)))
        watchdog = asyncio.ensure_future(self.conn.closed.wait())
        try:
            output = asyncio.ensure_future(self.pump_out(process))
            await asyncio.wait({output, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if not output.done():
                output.cancel()
                return
            await self.finish(finish(await process.wait()))
        finally:
            for task in [*inbound, watchdog]:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            process.kill()

    async def pump_out(self, process: ExecProcess) -> None:
        names = {STDOUT: "stdout", STDERR: "stderr"}
        while True:
            item = await process.read()
            if item is None:
                return
            channel, data = item
            stream = self.streams.get(names.get(channel, ""))
            if stream is not None:
                await self.conn.write(stream, data)

    async def pump_stdin(self, process: ExecProcess) -> None:
        stream = self.streams.get("stdin")
        if stream is None:
            return
        while True:
            data = await stream.read()
            if data is None:
                await process.close_stdin()
                return
            await process.write(data)

    async def pump_resize(self, process: ExecProcess) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        while True:
            data = await self.streams["resize"].read()
            if data is None:
                return
            buffer += data.decode("utf-8", "replace")
            while buffer.strip():
                try:
                    size, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    process.resize(int(size["Width"]), int(size["Height"]))

    async def finish(self, status: dict[str, Any]) -> None:
        error = self.streams.get("error")
        if error is not None:
            await self.conn.write(error, json.dumps(status).encode())
        for kind in ("stdout", "stderr", "error"):
            if kind in self.streams:
                await self.conn.close_stream(self.streams[kind])


class ExecWebSocket:
    """Pumps one exec session between a WebSocket and a process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 trailing: bytes) -> None:
        self.reader, self.writer = reader, writer
        self.ws = Connection(ConnectionType.SERVER, extensions=[], trailing_data=trailing)
        self.closed = asyncio.Event()

    async def send(self, channel: int, data: bytes) -> None:
        if self.closed.is_set():
            return
        self.writer.write(self.ws.send(BytesMessage(data=bytes([channel]) + data)))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def run(self, start: Start, finish: Finish, *, stdin: bool, stderr: bool) -> None:
        try:
            process = await start(stdin)
        except errors.ApiError as e:
            await self.finish(error_status(e))
            return
        inbound = asyncio.ensure_future(self.pump_in(process, stdin))
        try:
            await self.pump_out(process, stderr)
            await self.finish(finish(await process.wait()))
        finally:
            inbound.cancel()
            with contextlib.suppress(BaseException):
                await inbound
            process.kill()

    async def pump_out(self, process: ExecProcess, stderr: bool) -> None:
        while True:
            item = await process.read()
            if item is None:
                return
            channel, data = item
            if channel == STDERR and not stderr:
                continue
            await self.send(channel, data)

    async def pump_in(self, process: ExecProcess, stdin: bool) -> None:
        """Read frames: stdin, resize, stdin close, pings; on client close, kill the process."""
        while True:
            data = await self.reader.read(65536)
            if not data:
                self.closed.set()
                process.kill()
                return
            self.ws.receive_data(data)
            for event in self.ws.events():
                await self.on_event(event, process, stdin)

    async def on_event(self, event: Any, process: ExecProcess, stdin: bool) -> None:
        if isinstance(event, Ping):
            self.writer.write(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            if not self.closed.is_set():
                self.writer.write(self.ws.send(event.response()))
            self.closed.set()
            process.kill()
        elif isinstance(event, Message):
            payload = event.data.encode() if isinstance(event, TextMessage) else bytes(event.data)
            if not payload:
                return
            channel, data = payload[0], payload[1:]
            if channel == STDIN and stdin and data:
                await process.write(data)
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    size = json.loads(data)
                    process.resize(int(size["Width"]), int(size["Height"]))
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                await process.close_stdin()

    async def finish(self, status: dict[str, Any]) -> None:
        await self.send(ERROR, json.dumps(status).encode())
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                self.writer.write(self.ws.send(CloseConnection(code=1000)))
                await self.writer.drain()
        self.closed.set()
        with contextlib.suppress(Exception):
            self.writer.close()
