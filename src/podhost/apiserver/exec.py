"""`pods/exec` over WebSocket with the channel protocols v5.channel.k8s.io and v4.channel.k8s.io.

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
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

from podhost.api import errors
from podhost.apiserver.backend import ExecProcess, NodeBackend
from podhost.apiserver.http import Request, Upgrade
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


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


def check_target(store: Store, ns: str, name: str, container: str | None) -> str:
    """Validate the exec target; returns the container name."""
    pod = store.get("pods", ns, name)
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.BadRequestError(f"cannot exec into a container in a completed pod; current "
                                     f"phase is {phase}")
    names = [c["name"] for c in pod["spec"].get("containers", [])] + \
        [c["name"] for c in pod["spec"].get("initContainers", [])]
    if not container:
        if len(pod["spec"]["containers"]) != 1:
            raise errors.BadRequestError(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(c['name'] for c in pod['spec']['containers'])}]")
        container = pod["spec"]["containers"][0]["name"]
    if container not in names:
        raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
    running = [s for s in [*pod.get("status", {}).get("containerStatuses", []),
                           *pod.get("status", {}).get("initContainerStatuses", [])]
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
    tty, stdin = request.flag("tty"), request.flag("stdin")
    stderr = request.flag("stderr") and not tty
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
        await ws.run(node, ns, name, container, command, tty=tty, stdin=stdin, stderr=stderr)

    return Upgrade(headers, session)


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

    async def run(self, node: NodeBackend, ns: str, name: str, container: str,
                  command: list[str], *, tty: bool, stdin: bool, stderr: bool) -> None:
        try:
            process = await node.exec(ns, name, container, command, tty=tty, stdin=stdin)
        except errors.ApiError as e:
            await self.finish(error_status(e))
            return
        inbound = asyncio.ensure_future(self.pump_in(process, stdin))
        try:
            await self.pump_out(process, stderr)
            code = await process.wait()
            await self.finish(exit_status(code, command))
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
