"""The probe workers of one running container (kubelet's prober/worker.go).

The startup probe runs first and gates the others; then liveness and readiness run side by
side, each every periodSeconds after initialDelaySeconds. Failures are `Unhealthy` Warning
events; readiness sets `ready`; a liveness (or startup) verdict of failure kills the container,
which restartPolicy may then restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from podhost.api.types import Obj
from podhost.node.events import container_field_path
from podhost.node.probes import ProbeCounter, ProbeError, ProbeSpec, container_probes
from podhost.node.status import ContainerRecord

if TYPE_CHECKING:
    from podhost.node.kubelet import Kubelet
    from podhost.node.worker import PodWorker

log = logging.getLogger(__name__)


class Prober:
    def __init__(self, kubelet: Kubelet, worker: PodWorker, rec: ContainerRecord,
                 container: Obj) -> None:
        self.k, self.worker, self.rec, self.container = kubelet, worker, rec, container
        self.cid = rec.id
        self.probes = container_probes(container)

    def alive(self) -> bool:
        return self.rec.id == self.cid and self.rec.running and not self.worker.terminated

    async def run(self) -> None:
        try:
            startup = self.probes.get("Startup")
            if startup is not None and not await self.loop(startup):
                return
            loops = [self.loop(p) for kind, p in self.probes.items() if kind != "Startup"]
            if loops:
                await asyncio.gather(*loops)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("prober of %s/%s failed", self.worker.key, self.rec.name)

    async def loop(self, spec: ProbeSpec) -> bool:
        """Probe until the verdict ends the loop: startup success (True) or a kill (False)."""
        counter = ProbeCounter(spec.success_threshold, spec.failure_threshold)
        await asyncio.sleep(spec.initial_delay)
        while self.alive():
            ok, message = await self.probe_once(spec)
            if not self.alive():
                return False
            if not ok:
                self.k.recorder.warning(self.worker.pod, "Unhealthy",
                                        f"{spec.kind} probe failed: {message}",
                                        container_field_path(self.rec.name, self.rec.init))
            verdict = counter.record(ok)
            if verdict is not None and await self.on_verdict(spec, verdict):
                return verdict
            await asyncio.sleep(spec.period)
        return False

    async def probe_once(self, spec: ProbeSpec) -> tuple[bool, str]:
        try:
            await self.k.run_handler(self.worker, self.rec, self.container, spec.handler,
                                     spec.timeout)
        except ProbeError as e:
            return False, str(e).strip()
        return True, ""

    async def on_verdict(self, spec: ProbeSpec, ok: bool) -> bool:
        """Act on a changed verdict; True when this probe's loop is over."""
        rec = self.rec
        if spec.kind == "Readiness":
            rec.ready = ok
            self.worker.wake.set()
            return False
        if spec.kind == "Startup" and ok:
            rec.started_ok = True
            rec.ready = "Readiness" not in self.probes
            self.worker.wake.set()
            return True
        if ok:
            return False
        what = "liveness" if spec.kind == "Liveness" else "startup"
        self.k.recorder.normal(self.worker.pod, "Killing",
                               f"Container {rec.name} failed {what} probe, will be restarted",
                               container_field_path(rec.name, rec.init))
        grace = spec.grace if spec.grace is not None else self.worker.grace_period()
        # A task of its own: killing stops this prober, which must not cancel the kill.
        kill = asyncio.ensure_future(self.k.kill_container(self.worker, rec, float(grace),
                                                           reason=f"{what} probe"))
        await asyncio.shield(kill)
        return True
