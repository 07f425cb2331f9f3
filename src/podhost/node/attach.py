"""`pods/attach` on the node: the API server's ExecProcess over conmon's attach socket.

Attaching connects to the running container's main process (no new process): output from now
on, stdin when the container has `stdin: true`, terminal size when it has `tty: true` (the tty
is the container's, whatever the client asked, as kubelet's GetAttach does). Ending the attach
detaches and leaves the container running; with `stdinOnce: true` conmon then closes its stdin.
"""

from __future__ import annotations

import contextlib

from podhost.api import errors
from podhost.api.podutil import container_by_name
from podhost.node.pod_workers import PodWorker
from podhost.runtime.conmon import STDERR_PIPE, AttachConnection
from podhost.runtime.errors import ContainerRuntimeError
from podhost.runtime.runc import Runtime


class AttachProcess:
    """ExecProcess of an attach: read() yields (1 stdout | 2 stderr, data) until the container
    ends or the attach is closed; kill() only detaches."""

    def __init__(self, runtime: Runtime, container_id: str, conn: AttachConnection, *,
                 stdin: bool, tty: bool, stdin_once: bool) -> None:
        self.runtime, self.container_id, self.conn = runtime, container_id, conn
        self.stdin, self.tty, self.stdin_once = stdin, tty, stdin_once
        self.detached = False

    async def read(self) -> tuple[int, bytes] | None:
        packet = await self.conn.recv()
        if packet is None:
            return None
        pipe, data = packet
        return (2 if pipe == STDERR_PIPE else 1), data

    async def write(self, data: bytes) -> None:
        if self.stdin:
            await self.conn.send(data)

    async def close_stdin(self) -> None:
        # As CRI-O: the end of the client's stdin ends the container's only with stdinOnce, and
        # never through a terminal (a tty has no half-close).
        if self.stdin and self.stdin_once and not self.tty:
            self.conn.shutdown_write()

    def resize(self, width: int, height: int) -> None:
        if self.tty:
            with contextlib.suppress(ContainerRuntimeError, OSError):
                self.runtime.resize(self.container_id, width, height)

    async def wait(self) -> int:
        """The container's exit code if it has ended, else 0 (the attach ended, not it)."""
        if self.detached:
            return 0
        try:
            state = await self.runtime.state(self.container_id)
        except ContainerRuntimeError:
            return 0
        return (state.exit_code or 0) if state.status == "stopped" else 0

    def kill(self) -> None:
        self.detached = True
        self.conn.close()


def attach(runtime: Runtime, worker: PodWorker, container: str, *, stdin: bool,
           tty: bool) -> AttachProcess:
    """Attach to `container` of the worker's Pod; ApiError in Kubernetes' words when it
    cannot be done. `tty` is what the client asked; the container's own setting is used."""
    pod = worker.pod
    name = pod["metadata"]["name"]
    spec = container_by_name(pod, container)
    if spec is None:
        raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
    rec = worker.records.get(container)
    if rec is None or not rec.running or rec.id is None:
        raise errors.BadRequestError(f'container not found ("{container}")')
    if stdin and not spec.get("stdin"):
        raise errors.BadRequestError(
            f"cannot attach to container {container} of pod {name} with stdin: the container "
            f"is not configured with stdin")
    try:
        conn = runtime.attach(rec.id)
    except (FileNotFoundError, ConnectionRefusedError):  # it has just ended
        raise errors.BadRequestError(f'container not found ("{container}")') from None
    except (ContainerRuntimeError, OSError) as e:
        raise errors.InternalError(f"Internal error occurred: error attaching to container: "
                                   f"{e}") from None
    return AttachProcess(runtime, rec.id, conn, stdin=stdin, tty=bool(spec.get("tty")),
                         stdin_once=bool(spec.get("stdinOnce")))
