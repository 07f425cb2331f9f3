"""One worker per Pod UID, as kubelet's pod_workers.go: a task that syncs the Pod toward its
spec until it is deleted, then terminates it, and never goes back.

A worker coalesces updates (it always acts on the newest spec) and knows the node only through
the small `PodSyncer` interface; what to do on each sync is decided by `node/plan.py` and done by
`node/sync.py`. The worker holds what the node observes of the Pod: its container records,
sandbox, address, start time and the probes' verdicts.

    syncing ──(deletionTimestamp, or gone from the store)──▶ terminating ──▶ terminated
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from podhost.api import meta
from podhost.api.podutil import container_by_name
from podhost.api.types import Obj
from podhost.node import plan
from podhost.node.plan import ProbeFailure
from podhost.node.pod_state import ContainerRecord

log = logging.getLogger(__name__)

SYNC_RETRY = 1.0  # seconds before a sync that raised is tried again
TERMINATE_RETRY = 1.0


class PodSyncer(Protocol):
    async def sync_pod(self, worker: PodWorker) -> None:
        """Bring the running Pod one step closer to its spec."""

    async def sync_terminating_pod(self, worker: PodWorker) -> None:
        """Stop the Pod's containers, clean up, and remove it from the store (idempotent)."""

    def forget(self, worker: PodWorker) -> None:
        """The worker has ended."""


class PodWorker:
    def __init__(self, syncer: PodSyncer, pod: Obj) -> None:
        self.syncer = syncer
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.removed = False  # gone from the store
        self.wake = asyncio.Event()
        self.wake.set()
        self.sandbox_ready = False
        self.pod_ip: str | None = None  # set when the sandbox is made or adopted
        self.start_time: str | None = None
        self.terminated = False
        self.records: dict[str, ContainerRecord] = plan.initial_records(pod)
        self._timer: asyncio.TimerHandle | None = None
        self.initialized = False  # every init container done once (sidecars started)
        self.failure: tuple[str, str] | None = None  # (reason, message) forcing phase Failed
        self.task: asyncio.Task[None] | None = None
        self.config_retry_at: dict[str, float] = {}  # container -> monotonic time of next try
        self.probe_failures: dict[str, ProbeFailure] = {}

    @property
    def key(self) -> str:
        m = self.pod["metadata"]
        return f"{m.get('namespace')}/{m['name']}"

    def restore(self, pod: Obj) -> None:
        """After a node restart: what the stored status knows that containers do not."""
        status = pod.get("status") or {}
        self.start_time = self.start_time or status.get("startTime")
        self.pod_ip = self.pod_ip or status.get("podIP")  # a finished Pod keeps its address
        for cs in [*(status.get("initContainerStatuses") or []),
                   *(status.get("containerStatuses") or []),
                   *(status.get("ephemeralContainerStatuses") or [])]:
            rec = self.records.get(cs.get("name", ""))
            if rec is not None:
                rec.restore(cs)

    def inits(self) -> list[ContainerRecord]:
        return plan.inits_of(self.pod, self.records)

    def apps(self) -> list[ContainerRecord]:
        return plan.apps_of(self.pod, self.records)

    def ephemerals(self) -> list[ContainerRecord]:
        return plan.ephemerals_of(self.pod, self.records)

    def container_spec(self, name: str) -> Obj:
        container = container_by_name(self.pod, name)
        if container is None:
            raise KeyError(name)
        return container

    def grace_period(self) -> float:
        return plan.grace_period(self.pod)

    def observation(self) -> plan.PodObservation:
        active = None
        if self.start_time:
            active = (meta.now() - meta.parse_time(self.start_time)).total_seconds()
        return plan.PodObservation(
            uid=self.uid, records=self.records, sandbox_ready=self.sandbox_ready,
            active_seconds=active, failed=self.failure is not None,
            initialized=self.initialized, probe_failures=dict(self.probe_failures),
            config_retry_at=dict(self.config_retry_at))

    def update(self, pod: Obj | None, removed: bool = False) -> None:
        if pod is not None and not self.terminated:
            self.pod = pod
            self.records = plan.initial_records(pod, self.records)
        self.removed = self.removed or removed
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
        return self.removed or bool(self.pod["metadata"].get("deletionTimestamp"))

    def probe_result(self, name: str, container_id: str, kind: str, ok: bool,
                     grace: float | None = None) -> None:
        """A probe's verdict changed (the prober manager's results): readiness and startup
        become the container's status; a liveness or startup failure is left to the plan."""
        rec = self.records.get(name)
        if rec is None or rec.id != container_id:
            return
        if kind == "Readiness":
            rec.ready = ok
        elif kind == "Startup" and ok:
            rec.started_ok = True
            rec.ready = "readinessProbe" not in self.container_spec(name)
        elif not ok:
            self.probe_failures[name] = ProbeFailure(kind, container_id, grace)
        self.wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.terminating():
                    self.terminated = True
                    await self._terminate_until_done()
                    return
                try:
                    await self.syncer.sync_pod(self)
                except Exception:
                    log.exception("sync of pod %s failed", self.key)
                    self.wake_in(SYNC_RETRY)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.syncer.forget(self)

    async def _terminate_until_done(self) -> None:
        """A Pod must never stay Terminating because one clean-up step failed once (every
        step is idempotent): retried until done."""
        while True:
            try:
                await self.syncer.sync_terminating_pod(self)
                return
            except Exception:
                log.exception("termination of pod %s failed; retrying", self.key)
                await asyncio.sleep(TERMINATE_RETRY)
