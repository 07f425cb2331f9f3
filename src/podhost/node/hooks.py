"""Handlers run against a container: probes' and lifecycle hooks' exec, httpGet, tcpSocket,
grpc and sleep (kubelet's lifecycle/handlers.go and prober/prober.go share them the same way)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from podhost.api.types import Obj
from podhost.node import probes
from podhost.node.paths import NodePaths
from podhost.node.pod_state import ContainerRecord
from podhost.node.probes import ProbeError
from podhost.runtime.errors import ContainerRuntimeError, ExecStartError
from podhost.runtime.runc import Runtime

LOOPBACK = "127.0.0.1"


async def _read_all(read: Callable[[], Awaitable[bytes]]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < probes.MAX_OUTPUT * 2:
        chunk = await read()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def hook_failure(pod: Obj, rec: ContainerRecord, hook: Obj, e: Exception) -> str:
    """kubelet's FailedPostStartHook / FailedPreStopHook message."""
    m = pod["metadata"]
    what = probes.handler_kind(hook)
    label = {"exec": "Exec", "httpGet": "HTTP", "sleep": "Sleep"}.get(what, what)
    command = " ".join((hook.get("exec") or {}).get("command") or [])
    detail = f"[{command}]" if what == "exec" else (hook.get("httpGet") or {}).get("path", "")
    text = str(e).strip() or "timed out"
    if isinstance(e, ProbeError) and e.exit_code is not None:
        text = (f"command '{command}' exited with {e.exit_code}: {e.output}, "
                f"message: {json.dumps(e.output)}")
    return (f'{label} lifecycle hook ({detail}) for Container "{rec.name}" in Pod '
            f'"{m["name"]}_{m.get("namespace")}({m["uid"]})" failed - error: {text}')


class HandlerRunner:
    def __init__(self, runtime: Runtime, paths: NodePaths) -> None:
        self.runtime, self.paths = runtime, paths

    async def exec_capture(self, cid: str, argv: list[str], timeout: float
                           ) -> tuple[int, bytes]:
        """Run argv in the container; (exit status, stdout+stderr). TimeoutError on timeout."""
        try:
            session = await self.runtime.exec(cid, argv)
        except ExecStartError as e:
            return 126, str(e).encode()
        except ContainerRuntimeError as e:
            raise ProbeError(str(e)) from None

        async def drain() -> tuple[int, bytes]:
            out, err = await asyncio.gather(_read_all(session.read_stdout),
                                            _read_all(session.read_stderr))
            return await session.wait(), out + err

        try:
            return await asyncio.wait_for(drain(), timeout)
        finally:
            await session.close()

    async def run_handler(self, uid: str, pod_ip: str | None, rec: ContainerRecord,
                          container: Obj, handler: Obj, timeout: float) -> str:
        cid = rec.id
        if cid is None:
            raise ProbeError(f"container {rec.name} is not running")

        async def run(argv: list[str], t: float) -> tuple[int, bytes]:
            return await self.exec_capture(cid, argv, t)

        return await probes.run_handler(handler, run=run, netns=self.paths.netns(uid),
                                        container=container, timeout=timeout,
                                        pod_ip=pod_ip or LOOPBACK)

    async def run_hook(self, pod: Obj, pod_ip: str | None, rec: ContainerRecord,
                       container: Obj, hook: Obj, timeout: float) -> str | None:
        """Run a lifecycle hook; None on success, else kubelet's failure message."""
        try:
            await self.run_handler(pod["metadata"]["uid"], pod_ip, rec, container, hook,
                                   max(timeout, 0.0))
            return None
        except (ProbeError, TimeoutError) as e:
            return hook_failure(pod, rec, hook, e)
