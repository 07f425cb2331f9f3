"""kubelet's eviction manager, for local storage: a Pod whose emptyDir outgrows its
`sizeLimit` is evicted (a Warning event, phase Failed with reason Evicted, its containers
stopped and their exits recorded; the worker then releases its volumes and sandbox).

The same periodic pass brings configMap, secret and downwardAPI volumes up to date.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from podhost.node.events import Recorder
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.node.pod_workers import PodWorker
from podhost.node.status_manager import StatusManager
from podhost.node.volume_manager import VolumeManager
from podhost.volumes import eviction

log = logging.getLogger(__name__)

CHECK_PERIOD = 5.0  # seconds between passes
EVICTION_GRACE = 1.0  # seconds the containers of an evicted Pod get to stop


class EvictionManager:
    metrics: NodeMetrics = DETACHED

    def __init__(self, paths: NodePaths, volumes: VolumeManager, status: StatusManager,
                 recorder: Recorder, workers: Callable[[], Iterable[PodWorker]],
                 stop_pod: Callable[[PodWorker, float], Awaitable[None]]) -> None:
        self.paths, self.volumes, self.status, self.recorder = paths, volumes, status, recorder
        self.workers = workers
        self.stop_pod = stop_pod  # stops every container and records its exit

    async def run(self, period: float = CHECK_PERIOD) -> None:
        while True:
            await asyncio.sleep(period)
            for worker in list(self.workers()):
                try:
                    await self.evict_if_over_limit(worker)
                    if worker.sandbox_ready and not worker.terminated:
                        self.volumes.refresh(worker.pod)
                except Exception:
                    log.exception("eviction check of pod %s failed", worker.key)

    async def evict_if_over_limit(self, worker: PodWorker) -> None:
        phase = (worker.pod.get("status") or {}).get("phase")
        if worker.terminated or worker.terminating() or phase in ("Succeeded", "Failed"):
            return
        message = await asyncio.to_thread(eviction.check_pod, self.paths.pod_dir(worker.uid),
                                          worker.pod)
        if message is not None:
            await self.evict(worker, message)

    async def evict(self, worker: PodWorker, message: str) -> None:
        """evictPod: one Warning event, status Failed/Evicted, containers stopped."""
        self.recorder.warning(worker.pod, eviction.REASON, message)
        self.metrics.ops.evicted()  # kubelet_evictions{eviction_signal="emptydirfs.limit"}
        status = {**(worker.pod.get("status") or {}), "phase": "Failed",
                  "reason": eviction.REASON, "message": message}
        worker.pod = self.status.set_status(worker.pod, status)
        await self.stop_pod(worker, EVICTION_GRACE)
        worker.wake.set()  # publishes the exits; the next sync releases volumes and sandbox
