"""One worker per Pod UID: syncs the running Pod toward its spec, then terminates it.

Like kubelet's pod_workers.go, a worker coalesces updates (it always acts on the newest spec),
and once termination starts it is never undone. `sync_pod` runs the numbered steps:

  1. bind the Pod to this node if the scheduler has not (podhost is its own scheduler);
  2. make the Pod's directories, sandbox namespaces, volumes and /etc files;
  3. run init containers one at a time, each to success;
  4. start app containers that are not running, honouring restartPolicy and back-off;
  5. write the status when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from podhost.api import errors, meta
from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.network.hostports import UNSCHEDULABLE_PORTS
from podhost.node import status as podstatus
from podhost.node.events import container_field_path
from podhost.node.status import ContainerRecord
from podhost.runtime.errors import ContainerRuntimeError

if TYPE_CHECKING:
    from podhost.node.kubelet import Kubelet

log = logging.getLogger(__name__)

SCHEDULE_RETRY = 5.0  # seconds between scheduling attempts of a Pod that does not fit
SANDBOX_RETRY = 5.0  # seconds before a failed sandbox is made again
CONFIG_ERROR_RETRY = 10.0  # kubelet's pod worker back-off after a failed sync (backOffPeriod)


def config_error_retry(rec: ContainerRecord) -> bool:
    """A container that never ran and cannot be configured or created yet (a missing
    ConfigMap, Secret or key, runAsNonRoot, a mount that cannot propagate...): retried on the
    next sync, not crash-loop backed off."""
    return rec.waiting_reason in ("CreateContainerConfigError", "CreateContainerError") and \
        not rec.last_state and rec.exit_code is None


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.k = kubelet
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.deleted = False  # gone from the store
        self.wake = asyncio.Event()
        self.wake.set()
        self.sandbox_ready = False
        self.pod_ip: str | None = None  # set when the sandbox is made or adopted
        self.start_time: str | None = None
        self.terminated = False
        self.records: dict[str, ContainerRecord] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.probers: dict[str, asyncio.Task[None]] = {}
        self.initialized = False  # every init container done once (sidecars started)
        self.failure: tuple[str, str] | None = None  # (reason, message) forcing phase Failed
        self.task: asyncio.Task[None] | None = None
        self.config_retry_at: dict[str, float] = {}  # container → monotonic time of next try
        self._reset_records()

    # -- bookkeeping ---------------------------------------------------------------------
    @property
    def key(self) -> str:
        m = self.pod["metadata"]
        return f"{m.get('namespace')}/{m['name']}"

    def _reset_records(self) -> None:
        spec = self.pod.get("spec", {})
        for init, containers in ((True, spec.get("initContainers") or []),
                                 (False, spec.get("containers") or [])):
            for c in containers:
                rec = self.records.get(c["name"])
                if rec is None:
                    rec = ContainerRecord(c["name"], c.get("image", ""), init=init)
                    rec.waiting_reason = "PodInitializing" if not init and \
                        spec.get("initContainers") else "ContainerCreating"
                    self.records[c["name"]] = rec
                rec.image = c.get("image", rec.image)
                rec.sidecar = init and c.get("restartPolicy") == "Always"

    def restore(self, pod: Obj) -> None:
        """After a node restart: what the stored status knows that containers do not."""
        status = pod.get("status") or {}
        self.start_time = self.start_time or status.get("startTime")
        self.pod_ip = self.pod_ip or status.get("podIP")  # a finished Pod keeps its address
        for cs in [*(status.get("initContainerStatuses") or []),
                   *(status.get("containerStatuses") or [])]:
            rec = self.records.get(cs.get("name", ""))
            if rec is not None and not rec.last_state and cs.get("lastState"):
                rec.last_state = cs["lastState"]
            if rec is not None and rec.id is None and cs.get("restartCount"):
                rec.attempt = max(rec.attempt, int(cs["restartCount"]))

    def inits(self) -> list[ContainerRecord]:
        return [self.records[c["name"]] for c in self.pod["spec"].get("initContainers") or []]

    def apps(self) -> list[ContainerRecord]:
        return [self.records[c["name"]] for c in self.pod["spec"].get("containers") or []]

    def container_spec(self, name: str) -> Obj:
        spec = self.pod["spec"]
        return next(c for c in [*(spec.get("initContainers") or []), *spec["containers"]]
                    if c["name"] == name)

    def update(self, pod: Obj | None, deleted: bool = False) -> None:
        if pod is not None and not self.terminated:
            self.pod = pod
            self._reset_records()
        self.deleted = self.deleted or deleted
        self.wake.set()

    def wake_in(self, seconds: float) -> None:
        """Sync again in `seconds` at the latest; an earlier pending wake-up is kept."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, seconds)
        timer = self._timer
        if timer is not None and not timer.cancelled() and loop.time() < timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(when, self.wake.set)

    def terminating(self) -> bool:
        return self.deleted or bool(self.pod["metadata"].get("deletionTimestamp"))

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.terminating():
                    await self.terminate_until_done()
                    return
                try:
                    await self.sync_pod()
                except Exception:
                    log.exception("sync of pod %s failed", self.key)
                    self.wake_in(1.0)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for name in list(self.probers):
                self.stop_probes(name)
            self.k.forget(self)

    async def sync_pod(self) -> None:
        if not self.pod["spec"].get("nodeName"):
            if self.k.port_conflict(self):  # the scheduler's NodePorts filter
                self.pod = self.k.mark_unschedulable(self.pod, UNSCHEDULABLE_PORTS)
                self.wake_in(SCHEDULE_RETRY)
                return
            self.pod = self.k.bind(self.pod)
        if self.pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and \
                not any(r.running for r in self.records.values()):
            await self.k.cleanup_terminal(self)
            return
        if self.failure is None and self.deadline_left() <= 0:
            await self.fail_deadline()
            return
        if not self.sandbox_ready:
            try:
                await self.k.prepare_sandbox(self)
            except (ContainerRuntimeError, NetworkError) as e:
                self.k.recorder.warning(self.pod, "FailedCreatePodSandBox",
                                        f"Failed to create pod sandbox: {e}")
                self.wake_in(SANDBOX_RETRY)
                return
            self.sandbox_ready = True
            with contextlib.suppress(NetworkError):  # logged; retried on the next change
                self.k.sync_host_ports()
            self.start_time = self.start_time or meta.rfc3339()
        if self.failure is None:
            left = self.deadline_left()
            if left != float("inf"):
                self.wake_in(left)
            if await self.sync_init_containers():
                await self.sync_app_containers()
        self.publish_status()

    def deadline_left(self) -> float:
        """Seconds before activeDeadlineSeconds passes (inf without one, or before start)."""
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is None or not self.start_time:
            return float("inf")
        ran = (meta.now() - meta.parse_time(self.start_time)).total_seconds()
        return float(deadline) - ran

    async def fail_deadline(self) -> None:
        message = "Pod was active on the node longer than the specified deadline"
        self.failure = ("DeadlineExceeded", message)
        self.k.recorder.warning(self.pod, "DeadlineExceeded", message)
        await self.k.stop_all(self, self.grace_period())
        self.publish_status()
        self.wake.set()

    def grace_period(self) -> float:
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        return float(grace)

    async def sync_init_containers(self) -> bool:
        """Run init containers in order; True once all have succeeded (sidecars: started).

        Once the Pod is initialised, only sidecars that exited are restarted here."""
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if any(r.id is not None or r.attempt for r in self.apps()):
            self.initialized = True  # app containers ran: never initialise again
        if self.initialized:
            if not self.apps_done():
                for rec in self.inits():
                    if rec.sidecar and not rec.running:
                        await self.start_with_backoff(rec)
            return True
        for rec in self.inits():
            if rec.sidecar:
                if rec.running and rec.started_ok:
                    continue
                if not rec.running:
                    await self.start_with_backoff(rec)
                return False
            if rec.terminated and rec.exit_code == 0 and not rec.waiting_reason:
                continue
            if rec.running:
                return False
            if rec.terminated and policy == "Never":
                return False
            await self.start_with_backoff(rec)
            return False
        self.initialized = True
        return True

    def apps_done(self) -> bool:
        """Every app container ended and none will restart (restartPolicy Never/OnFailure)."""
        policy = self.pod["spec"].get("restartPolicy", "Always")
        return all(r.terminated and not _should_restart(policy, r.exit_code)
                   for r in self.apps())

    async def sync_app_containers(self) -> None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        starts = []
        for rec in self.apps():
            if rec.running:
                continue
            if rec.terminated and not _should_restart(policy, rec.exit_code):
                rec.waiting_reason = ""
                continue
            starts.append(self.start_with_backoff(rec))
        if starts:
            await asyncio.gather(*starts)
        if self.apps_done() and any(r.running for r in self.inits() if r.sidecar):
            await self.k.stop_sidecars(self, self.grace_period())

    async def start_with_backoff(self, rec: ContainerRecord) -> None:
        key = f"{self.uid}/{rec.name}"
        now = time.monotonic()
        if config_error_retry(rec):
            # never ran: kubelet has no exited container to back off from (doBackOff); the
            # pod worker retries the sync every 10 s and the waiting message stays the error
            left = self.config_retry_at.get(rec.name, 0.0) - now
            if left > 0:
                self.wake_in(left)
                return
            await self.k.start_container(self, rec)
            if config_error_retry(rec):
                self.config_retry_at[rec.name] = time.monotonic() + CONFIG_ERROR_RETRY
            return
        if rec.terminated or rec.waiting_reason in ("CrashLoopBackOff", "RunContainerError",
                                                    "CreateContainerError",
                                                    "CreateContainerConfigError"):
            left = self.k.backoff.in_backoff(key, now)
            if left > 0:
                self._enter_backoff(rec, key)
                self.wake_in(left)
                return
            self.k.backoff.next(key, now, self._ran_for(rec))
        elif rec.id is None and rec.attempt == 0:
            pass
        await self.k.start_container(self, rec)

    def _ran_for(self, rec: ContainerRecord) -> float:
        if rec.started_at and rec.finished_at:
            return (meta.parse_time(rec.finished_at) - meta.parse_time(rec.started_at)
                    ).total_seconds()
        return 0.0

    def _enter_backoff(self, rec: ContainerRecord, key: str) -> None:
        if rec.terminated:
            if rec.waiting_reason != "CrashLoopBackOff":
                rec.last_state = rec.terminated_state()
            rec.waiting_reason = "CrashLoopBackOff"
        delay = int(self.k.backoff.delay(key))
        m = self.pod["metadata"]
        rec.waiting_message = (f"back-off {delay}s restarting failed container={rec.name} "
                               f"pod={m['name']}_{m.get('namespace')}({self.uid})")
        self.k.recorder.warning(self.pod, "BackOff", "Back-off restarting failed container "
                                f"{rec.name} in pod {m['name']}_{m.get('namespace')}({self.uid})",
                                container_field_path(rec.name, rec.init))

    def on_exit(self, rec: ContainerRecord, code: int, oom: bool, message: str) -> None:
        rec.exit_code = code
        rec.finished_at = meta.rfc3339()
        rec.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        rec.message = message
        rec.waiting_reason = ""
        rec.ready = False
        self.stop_probes(rec.name)
        self.wake.set()

    # -- probes --------------------------------------------------------------------------
    def start_probes(self, rec: ContainerRecord) -> None:
        from podhost.node.prober import Prober
        self.stop_probes(rec.name)
        prober = Prober(self.k, self, rec, self.container_spec(rec.name))
        self.probers[rec.name] = asyncio.ensure_future(prober.run())

    def stop_probes(self, name: str) -> None:
        task = self.probers.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def publish_status(self) -> None:
        if self.deleted:
            return
        status = podstatus.pod_status(self.pod, self.inits(), self.apps(), self.sandbox_ready,
                                      self.k.host_ip, self.start_time, self.failure,
                                      pod_ip=self.pod_ip)
        self.pod = self.k.write_status(self.pod, status)

    # -- termination ---------------------------------------------------------------------
    async def terminate_until_done(self, retry: float = 1.0) -> None:
        """terminate(), again after a failure: a Pod must never stay Terminating because one
        clean-up step failed once (every step is idempotent)."""
        while True:
            try:
                await self.terminate()
                return
            except Exception:
                log.exception("termination of pod %s failed; retrying", self.key)
                await asyncio.sleep(retry)

    async def terminate(self) -> None:
        """SyncTerminatingPod then SyncTerminatedPod: stop, clean up, then remove the Pod."""
        self.terminated = True
        grace = self.grace_period()
        if self.deleted and not self.pod["metadata"].get("deletionTimestamp"):
            grace = 0  # removed from the store at once (--grace-period=0 --force): kill fast
        await self.k.stop_all(self, float(grace))
        with contextlib.suppress(errors.ApiError):
            if not self.deleted:
                self.publish_status()
        await self.k.cleanup_pod(self)
        if not self.deleted:
            self.k.remove_from_store(self.pod)


def _should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False
