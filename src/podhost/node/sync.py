"""The Pod syncer the workers call: kubelet's SyncPod, SyncTerminatingPod and SyncTerminatedPod.

`sync_pod` computes the plan (`node/plan.py`) and carries it out in numbered steps:

  1. bind the Pod to this node if no scheduler has (podhost is its own scheduler);
  2. compute PodActions from the Pod and what the node observes;
  3. a finished Pod releases its volumes and sandbox; a Pod past activeDeadlineSeconds is
     killed and fails;
  4. kill the containers whose liveness or startup probe failed;
  5. make the sandbox (namespaces, address, volumes' directories, /etc files);
  6. start ephemeral containers that never ran (kubectl debug; before init containers, so a
     Pod stuck in its init can be debugged), the next init container, or restart sidecars,
     then start app containers;
  7. stop sidecars once the app containers are done;
  8. write the status when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import MutableMapping

from podhost.api import errors, meta
from podhost.network import NetworkError, listeners
from podhost.network.hostports import UNSCHEDULABLE_PORTS
from podhost.node import claims, plan
from podhost.node import status as podstatus
from podhost.node.backoff import BackOff
from podhost.node.events import Recorder, container_field_path
from podhost.node.image_manager import ImageManager
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.plan import ContainerToStart, PodActions
from podhost.node.pod_state import ContainerIndex
from podhost.node.pod_workers import PodWorker
from podhost.node.prober_manager import ProberManager
from podhost.node.runtime_manager import RuntimeManager
from podhost.node.sandboxes import SandboxManager
from podhost.node.status_manager import StatusManager
from podhost.runtime.errors import ContainerRuntimeError

SCHEDULE_RETRY = 5.0  # seconds between scheduling attempts of a Pod that does not fit
SANDBOX_RETRY = 5.0  # seconds before a failed sandbox is made again


class Syncer:
    metrics: NodeMetrics = DETACHED

    def __init__(self, status: StatusManager, sandboxes: SandboxManager,
                 containers: RuntimeManager, images: ImageManager, probers: ProberManager,
                 index: ContainerIndex, recorder: Recorder, host_ip: str,
                 workers: MutableMapping[str, PodWorker]) -> None:
        self.status, self.sandboxes, self.containers = status, sandboxes, containers
        self.images, self.probers, self.index = images, probers, index
        self.recorder, self.host_ip, self.workers = recorder, host_ip, workers
        self.backoff = BackOff()  # crash-loop back-off, per container

    async def sync_pod(self, worker: PodWorker) -> None:
        """One sync, timed (kubelet_pod_worker_duration_seconds: create the first time)."""
        operation = "sync" if worker.uid in self.metrics.first_seen else "create"
        started = time.monotonic()
        try:
            await self._sync_pod(worker)
        finally:
            self.metrics.ops.pod_synced(operation, time.monotonic() - started)

    async def _sync_pod(self, worker: PodWorker) -> None:
        self.metrics.pod_seen(worker.uid, (worker.pod.get("status") or {}).get("phase") ==
                              "Running")
        if not worker.pod["spec"].get("nodeName") and not self._schedule(worker):
            return
        actions = plan.compute_pod_actions(worker.pod, worker.observation(), time.monotonic(),
                                           self.backoff)
        worker.initialized = actions.initialized
        if actions.clean_up_terminal:
            await self.containers.clean_up_terminal(worker)
            return
        if actions.stop_all:  # a terminal Pod runs nothing: kubelet's podIsTerminal
            await self.stop_pod(worker, worker.grace_period())
            self.publish_status(worker)
            worker.wake.set()
            return
        if actions.kill_pod is not None:
            await self._fail_pod(worker, *actions.kill_pod)
            return
        for kill in actions.containers_to_kill:
            worker.probe_failures.pop(kill.name, None)
            rec = worker.records[kill.name]
            self.recorder.normal(worker.pod, "Killing", kill.message,
                                 container_field_path(rec.name, rec.init))
            grace = kill.grace if kill.grace is not None else worker.grace_period()
            await self.containers.kill_container(worker, rec, grace, reason=kill.reason)
        if actions.create_sandbox and not await self._make_sandbox(worker):
            return
        await self._start(worker, actions)
        if actions.stop_sidecars:
            _, sidecars = plan.termination_order(worker.pod, worker.records)
            await self.containers.stop_sidecars(worker, sidecars, worker.grace_period())
        if actions.wake_after is not None:
            worker.wake_in(actions.wake_after)
        self.publish_status(worker)

    def _schedule(self, worker: PodWorker) -> bool:
        if (message := self.status.node_filter(worker.pod)) is not None:  # cordon, taints
            worker.pod = self.status.mark_unschedulable(worker.pod, message)
            worker.wake_in(SCHEDULE_RETRY)
            return False
        if self.sandboxes.port_conflict(worker):  # the scheduler's NodePorts filter
            worker.pod = self.status.mark_unschedulable(worker.pod, UNSCHEDULABLE_PORTS)
            worker.wake_in(SCHEDULE_RETRY)
            return False
        others = [w.pod for w in self.sandboxes.workers() if w is not worker
                  and w.pod["spec"].get("nodeName") and not w.terminated]
        found = claims.verdict(self.status.store, worker.pod, others, self.status.node_name)
        if found.action != claims.BIND:  # the scheduler's volume plugins: wait for claims
            if found.action == claims.UNSCHEDULABLE:
                worker.pod = self.status.mark_unschedulable(worker.pod, found.message)
            worker.wake_in(found.retry)
            return False
        worker.pod = self.status.bind(worker.pod)
        return True

    async def _make_sandbox(self, worker: PodWorker) -> bool:
        new = not self.sandboxes.exists(worker.uid)
        try:
            with self.metrics.ops.timing("run_podsandbox"):
                await self.sandboxes.prepare(worker)
        except (ContainerRuntimeError, NetworkError) as e:
            self.recorder.warning(worker.pod, "FailedCreatePodSandBox",
                                  f"Failed to create pod sandbox: {e}")
            self.metrics.sandbox_started(False)
            worker.wake_in(SANDBOX_RETRY)
            return False
        self.metrics.sandbox_started(True)
        if new and not worker.pod["spec"].get("hostNetwork"):
            for message in listeners.shadowed(worker.pod):
                self.recorder.warning(worker.pod, listeners.REASON, message)
        worker.start_time = worker.start_time or meta.rfc3339()
        deadline = plan.deadline_left(worker.pod, 0.0)
        if deadline != float("inf"):
            worker.wake_in(deadline)
        return True

    async def _start(self, worker: PodWorker, actions: PodActions) -> None:
        for wait in actions.back_off:
            self._enter_backoff(worker, wait)
        for name in actions.keep_terminated:
            worker.records[name].wait("")
        if actions.ephemerals_to_start:
            await asyncio.gather(*(self._start_one(worker, s)
                                   for s in actions.ephemerals_to_start))
        if actions.init_to_start is not None:
            await self._start_one(worker, actions.init_to_start)
        for sidecar in actions.sidecars_to_start:
            await self._start_one(worker, sidecar)
        if actions.containers_to_start:
            await asyncio.gather(*(self._start_one(worker, s)
                                   for s in actions.containers_to_start))

    async def _start_one(self, worker: PodWorker, start: ContainerToStart) -> None:
        rec = worker.records[start.name]
        if start.count_restart:
            self.backoff.next(plan.backoff_key(worker.uid, rec.name), time.monotonic(),
                              start.ran_for)
        await self.containers.start_container(worker, rec)
        if start.config_retry and plan.config_error_retry(rec):
            # never ran: kubelet has no exited container to back off from (doBackOff); the
            # pod worker retries the sync every 10 s and the waiting message stays the error
            worker.config_retry_at[rec.name] = time.monotonic() + plan.CONFIG_ERROR_RETRY

    def _enter_backoff(self, worker: PodWorker, wait: plan.BackOffWait) -> None:
        rec = worker.records[wait.name]
        m = worker.pod["metadata"]
        pod_ref = f"pod={m['name']}_{m.get('namespace')}({worker.uid})"
        rec.enter_backoff(f"back-off {int(wait.delay)}s restarting failed container="
                          f"{rec.name} {pod_ref}")
        self.recorder.warning(worker.pod, "BackOff", "Back-off restarting failed container "
                              f"{rec.name} in pod {m['name']}_{m.get('namespace')}"
                              f"({worker.uid})", container_field_path(rec.name, rec.init))

    async def _fail_pod(self, worker: PodWorker, reason: str, message: str) -> None:
        """activeDeadlineSeconds: every container stopped, phase Failed with the reason."""
        worker.failure = (reason, message)
        self.recorder.warning(worker.pod, reason, message)
        await self.stop_pod(worker, worker.grace_period())
        self.publish_status(worker)
        worker.wake.set()

    async def stop_pod(self, worker: PodWorker, grace: float) -> None:
        first, sidecars = plan.termination_order(worker.pod, worker.records)
        await self.containers.stop_all(worker, first, sidecars, grace)

    def publish_status(self, worker: PodWorker) -> None:
        if worker.removed:
            return
        status = podstatus.pod_status(worker.pod, worker.inits(), worker.apps(),
                                      worker.sandbox_ready, self.host_ip, worker.start_time,
                                      worker.failure, pod_ip=worker.pod_ip,
                                      ephemerals=worker.ephemerals())
        worker.pod = self.status.set_status(worker.pod, status)
        if status.get("phase") == "Running":
            created = worker.pod["metadata"].get("creationTimestamp")
            self.metrics.pod_running(worker.uid, meta.parse_time(created).timestamp()
                                     if created else None)

    async def sync_terminating_pod(self, worker: PodWorker) -> None:
        """SyncTerminatingPod then SyncTerminatedPod: stop, clean up, then remove the Pod."""
        started = time.monotonic()
        await self.stop_pod(worker, plan.termination_grace(worker.pod, worker.removed))
        with contextlib.suppress(errors.ApiError):
            self.publish_status(worker)
        await self.containers.clean_up_pod(worker)
        if not worker.removed:
            self.status.remove(worker.pod)
        self.metrics.ops.pod_synced("kill", time.monotonic() - started)

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        self.probers.stop_pod(worker.uid)
        self.index.forget_pod(worker.uid)
        self.backoff.forget(worker.uid + "/")
        self.images.forget(worker.uid)
        self.metrics.forget(worker.uid)
