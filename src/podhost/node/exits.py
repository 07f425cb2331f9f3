"""The one way a container's end is recorded, whoever noticed it: the exit poller, a kill, a
restart's adoption or an eviction (containerd's handleContainerExit plays this part).

The record gets the exit code from conmon's exit file (137 when there is none: killed), the OOM
verdict, and the termination message (the file the container wrote, or the end of its log with
`FallbackToLogsOnError`); the Pod worker is woken to act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

from podhost.api import meta
from podhost.node import logs as logfiles
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.node.pod_state import EXIT_KILLED, ContainerIndex, ContainerRecord
from podhost.node.pod_workers import PodWorker
from podhost.node.prober_manager import ProberManager
from podhost.runtime.errors import ContainerRuntimeError
from podhost.runtime.runc import Runtime

EXIT_POLL = 0.1  # seconds between looks at conmon's exit files
MESSAGE_MAX = 4096  # bytes of the termination message file
FALLBACK_LINES, FALLBACK_MAX = 80, 2048  # FallbackToLogsOnError: kubelet's limits


class ExitHandler:
    metrics: NodeMetrics = DETACHED

    def __init__(self, runtime: Runtime, paths: NodePaths, index: ContainerIndex,
                 workers: Mapping[str, PodWorker], probers: ProberManager) -> None:
        self.runtime, self.paths, self.index = runtime, paths, index
        self.workers, self.probers = workers, probers
        self.seen: set[str] = set()  # container ids whose exit is recorded

    async def poll(self) -> None:
        """Record the exit of every container of the node that has ended."""
        while True:
            await asyncio.sleep(EXIT_POLL)
            started = time.monotonic()  # the PLEG's relist, as kubelet times it
            try:
                exited = self.runtime.exited()
            except OSError:
                continue
            for cid, code in exited.items():
                if cid in self.seen or cid not in self.index:
                    continue
                self.seen.add(cid)
                await self._on_exit(cid, code)
            self.metrics.ops.relisted(started, time.monotonic() - started)

    async def _on_exit(self, cid: str, code: int) -> None:
        entry = self.index.get(cid)
        worker = self.workers.get(entry[0]) if entry else None
        if entry is None or worker is None:
            return
        rec = entry[1]
        if rec.id != cid or rec.exit_code is not None:
            return
        oom = False
        with contextlib.suppress(ContainerRuntimeError, OSError):
            oom = (await self.runtime.state(cid)).oom_killed
        self.record(worker, rec, code, oom=oom)

    def record(self, worker: PodWorker, rec: ContainerRecord, code: int | None = None, *,
               oom: bool | None = None, message: str | None = None,
               finished_at: str | None = None) -> None:
        """Record the end of rec's current attempt (code, OOM and message read when not
        given) and wake its worker."""
        assert rec.id is not None
        cid = rec.id
        if code is None:
            code = self.runtime.exited().get(cid, EXIT_KILLED)
        if oom is None:
            oom = False
            with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
                oom = (self.runtime.bundle_dir(cid) / "oom").exists()
        if message is None:
            message = self.termination_message(worker, rec, code)
        self.seen.add(cid)
        rec.mark_exited(code, oom=oom, message=message, finished_at=finished_at or meta.rfc3339())
        self.probers.stop(worker.uid, rec.name)
        worker.wake.set()

    def termination_message(self, worker: PodWorker, rec: ContainerRecord, code: int) -> str:
        spec = worker.container_spec(rec.name)
        path = self.paths.termination_log(worker.uid, rec.name, rec.id or "")
        try:
            with open(path, "rb") as f:
                text = f.read(MESSAGE_MAX).decode("utf-8", "replace")
        except OSError:
            text = ""
        if not text and code != 0 and spec.get("terminationMessagePolicy") == \
                "FallbackToLogsOnError":
            try:
                log = self.paths.log_path(worker.pod, rec.name, rec.attempt).read_bytes()
            except OSError:
                log = b""
            lines = list(logfiles.parse_lines(log))[-FALLBACK_LINES:]
            text = b"".join(ln.content for ln in lines).decode("utf-8", "replace")
            text = text[-FALLBACK_MAX:]
        return text

    def forget(self, container_id: str) -> None:
        self.seen.discard(container_id)
