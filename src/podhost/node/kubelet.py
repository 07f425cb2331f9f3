"""The node: watches Pods in the store and keeps one Pod worker per Pod UID, with the
managers each worker's sync uses (kubelet's syncLoop and the managers it wires).

    store watch ──▶ Kubelet.dispatch ──▶ PodWorker (one task per UID)
                                              │ sync_pod / sync_terminating_pod
                                              ▼
                     Syncer: plan.compute_pod_actions ──▶ numbered steps, through
        StatusManager · SandboxManager · RuntimeManager · ImageManager · VolumeManager
                     ▲                                 ▲
     ProberManager (verdicts into the worker)   ExitHandler (every container's end)

Housekeeping runs beside the loop: the exit poller, log rotation and the eviction manager.
`streaming` is what the API server is given (exec, attach, logs, port-forward, usage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from podhost.api.storage import ApiClient
from podhost.api.types import Obj
from podhost.images.registries import load_registries
from podhost.images.store import ImageStore
from podhost.network.bridge import PodNetwork
from podhost.node.events import Recorder
from podhost.node.eviction_manager import EvictionManager
from podhost.node.exits import ExitHandler
from podhost.node.hooks import HandlerRunner
from podhost.node.image_manager import ImageManager
from podhost.node.metrics import NodeMetrics
from podhost.node.metrics_ops import instrument_runtime
from podhost.node.paths import NodePaths
from podhost.node.pod_state import ContainerIndex
from podhost.node.pod_workers import PodWorker
from podhost.node.prober_manager import ProberManager
from podhost.node.recovery import Recovery
from podhost.node.runtime_manager import RuntimeManager
from podhost.node.sandboxes import SandboxManager
from podhost.node.status_manager import StatusManager
from podhost.node.streaming import Streaming
from podhost.node.sync import Syncer
from podhost.node.volume_manager import VolumeManager
from podhost.runtime.runc import Runtime

log = logging.getLogger(__name__)

LOG_ROTATE_EVERY = 10.0
DRAIN_TIMEOUT = 10.0  # seconds a stopping node waits for Pods being torn down


class Kubelet:
    def __init__(self, store: ApiClient, runtime: Runtime, images: ImageStore, root: Path, *,
                 node_name: str, host_ip: str = "127.0.0.1",
                 registries_conf: Path | None = None, network: PodNetwork | None = None,
                 image_pull_fallback: bool = True) -> None:
        self.store, self.node_name = store, node_name
        self.paths = paths = NodePaths(root)
        self.workers: dict[str, PodWorker] = {}
        self.metrics = NodeMetrics(self.workers.values, node_name)  # /metrics, node proxy
        instrument_runtime(runtime, self.metrics.ops)  # kubelet_runtime_operations_*
        self._watcher: Any = None
        self.recovered = asyncio.Event()  # set once outliving containers are adopted
        recorder = Recorder(store, node_name)
        index = ContainerIndex()
        self.status = StatusManager(store, recorder, node_name)
        self.images = ImageManager(images, load_registries(registries_conf), recorder,
                                   image_pull_fallback)
        self.volumes = VolumeManager(paths, store)
        self.sandboxes = SandboxManager(paths, network, self.volumes, self.workers.values,
                                        host_ip)
        handlers = HandlerRunner(runtime, paths)
        self.probers = ProberManager(handlers, recorder)
        self.exits = ExitHandler(runtime, paths, index, self.workers, self.probers)
        self.containers = RuntimeManager(
            runtime, paths, store, recorder, index, self.exits, self.images, self.volumes,
            self.sandboxes, handlers, self.probers, host_ip, self.workers)
        self.syncer = Syncer(self.status, self.sandboxes, self.containers, self.images,
                             self.probers, index, recorder, host_ip, self.workers)
        self.evictions = EvictionManager(paths, self.volumes, self.status, recorder,
                                         self.workers.values, self.syncer.stop_pod)
        self.recovery = Recovery(runtime, paths, self.containers, self.sandboxes, self.exits,
                                 self.workers, self.new_worker)
        for seam in (self.images, self.probers, self.containers, self.syncer, self.exits,
                     self.evictions, self.volumes):
            seam.metrics = self.metrics
        self.streaming = Streaming(runtime, paths, self.workers, self.recovered, store,
                                   node_name=node_name, metrics=self.metrics)

    def new_worker(self, pod: Obj) -> PodWorker:
        return PodWorker(self.syncer, pod)

    async def run(self) -> None:
        self._watcher, _ = self.store.watch("pods", None, None, lambda o: True)
        try:
            pods, _ = self.store.list("pods")
            await self.recovery.recover(pods)
            for worker in self.workers.values():
                worker.task = asyncio.ensure_future(worker.run())
            self.resync()  # Pods with nothing running (created, or deleted, while down)
            self.recovered.set()
            housekeeping = [asyncio.ensure_future(c) for c in (
                self.exits.poll(), self._rotate_logs(), self.evictions.run())]
            try:
                await self._watch_loop()
            finally:
                for task in housekeeping:
                    task.cancel()
        finally:
            self.store.unwatch(self._watcher)

    async def _watch_loop(self) -> None:
        while True:
            event = await self._watcher.queue.get()
            if event is None:  # closed (fell behind): watch again and re-list
                self._watcher, _ = self.store.watch("pods", None, None, lambda o: True)
                self.resync()
                continue
            self.dispatch(event.object, removed=event.type == "DELETED")

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """At shutdown: let the Pods already terminating finish their clean-up, so that a node
        stopped right after a delete leaves nothing behind (running Pods keep running and are
        adopted on the next start; a termination cut short is finished then)."""
        tasks = [w.task for w in self.workers.values()
                 if w.task is not None and not w.task.done() and (w.terminated or w.terminating())]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def resync(self) -> None:
        pods, _ = self.store.list("pods")
        self.status.finished &= {p["metadata"]["uid"] for p in pods}  # a DELETED missed
        for pod in pods:
            self.dispatch(pod)

    def dispatch(self, pod: Obj, removed: bool = False) -> None:
        uid = pod["metadata"].get("uid")
        node = pod.get("spec", {}).get("nodeName")
        if not uid or (node and node != self.node_name):
            return
        if uid in self.status.finished or _held_by_finalizers(pod):
            if removed:  # its finalizers went: nothing of it is left on the node
                self.status.finished.discard(uid)
            if uid not in self.workers:
                return
        worker = self.workers.get(uid)
        if worker is None:
            if removed:
                if self.paths.pod_dir(uid).exists():  # made before a crash, never run
                    asyncio.ensure_future(self.containers.clean_up_dirs(uid, pod))
                return
            worker = self.workers[uid] = self.new_worker(pod)
            worker.task = asyncio.ensure_future(worker.run())
        worker.update(pod, removed)

    async def _rotate_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_ROTATE_EVERY)
            with contextlib.suppress(Exception):
                self.containers.rotate_logs()


def _held_by_finalizers(pod: Obj) -> bool:
    """Deleted with grace period 0 but kept by finalizers: nothing left for the node to do."""
    m = pod["metadata"]
    return bool(m.get("deletionTimestamp") and m.get("finalizers")) and \
        m.get("deletionGracePeriodSeconds") == 0
