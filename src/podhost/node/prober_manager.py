"""The probe workers of running containers (kubelet's prober/prober_manager.go and worker.go).

The startup probe runs first and gates the others; then liveness and readiness run side by
side, each every periodSeconds after initialDelaySeconds. Failures are `Unhealthy` Warning
events. The prober only records verdicts, into the Pod worker (`PodWorker.probe_result`): the
plan decides to kill a container whose liveness or startup probe failed, as kubelet's
computePodActions does with its liveness results.
"""

from __future__ import annotations

import asyncio
import logging

from podhost.api.types import Obj
from podhost.node.events import Recorder, container_field_path
from podhost.node.hooks import HandlerRunner
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.pod_state import ContainerRecord
from podhost.node.pod_workers import PodWorker
from podhost.node.probes import ProbeCounter, ProbeError, ProbeSpec, container_probes

log = logging.getLogger(__name__)


class Prober:
    """The probes of one attempt of one container."""

    metrics: NodeMetrics = DETACHED

    def __init__(self, handlers: HandlerRunner, recorder: Recorder, worker: PodWorker,
                 rec: ContainerRecord, container: Obj) -> None:
        self.handlers, self.recorder = handlers, recorder
        self.worker, self.rec, self.container = worker, rec, container
        self.cid = rec.id or ""
        self.probes = container_probes(container)

    def alive(self) -> bool:
        return self.rec.id == self.cid and self.rec.running and not self.worker.terminated

    async def run(self) -> None:
        try:
            startup = self.probes.get("Startup")
            if startup is not None and not self.rec.started_ok and not await self.loop(startup):
                return
            loops = [self.loop(p) for kind, p in self.probes.items() if kind != "Startup"]
            if loops:
                await asyncio.gather(*loops)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("prober of %s/%s failed", self.worker.key, self.rec.name)

    async def loop(self, spec: ProbeSpec) -> bool:
        """Probe until the verdict ends the loop: startup success (True) or a failure of
        liveness or startup (False)."""
        counter = ProbeCounter(spec.success_threshold, spec.failure_threshold)
        await asyncio.sleep(spec.initial_delay)
        while self.alive():
            ok, message = await self.probe_once(spec)
            if not self.alive():
                return False
            self.metrics.probed(spec.kind, ok, self.rec.name, self.worker.pod)
            if not ok:
                self.recorder.warning(self.worker.pod, "Unhealthy",
                                      f"{spec.kind} probe failed: {message}",
                                      container_field_path(self.rec.name, self.rec.init))
            verdict = counter.record(ok)
            if verdict is not None:
                self.worker.probe_result(self.rec.name, self.cid, spec.kind, verdict,
                                         spec.grace)
                if spec.kind == "Startup" and verdict:
                    return True
                if spec.kind != "Readiness" and not verdict:
                    return False
            await asyncio.sleep(spec.period)
        return False

    async def probe_once(self, spec: ProbeSpec) -> tuple[bool, str]:
        try:
            await self.handlers.run_handler(self.worker.uid, self.worker.pod_ip, self.rec,
                                            self.container, spec.handler, spec.timeout)
        except ProbeError as e:
            return False, str(e).strip()
        return True, ""


class ProberManager:
    metrics: NodeMetrics = DETACHED

    def __init__(self, handlers: HandlerRunner, recorder: Recorder) -> None:
        self.handlers, self.recorder = handlers, recorder
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def start(self, worker: PodWorker, rec: ContainerRecord, container: Obj) -> None:
        """Probe the container's current attempt (its earlier probes stop)."""
        self.stop(worker.uid, rec.name)
        if not container_probes(container):
            return
        prober = Prober(self.handlers, self.recorder, worker, rec, container)
        prober.metrics = self.metrics
        self.tasks[(worker.uid, rec.name)] = asyncio.ensure_future(prober.run())

    def stop(self, uid: str, name: str) -> None:
        task = self.tasks.pop((uid, name), None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def stop_pod(self, uid: str) -> None:
        for key in [k for k in self.tasks if k[0] == uid]:
            self.stop(*key)
