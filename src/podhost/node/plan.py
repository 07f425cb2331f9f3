"""What to do next for one Pod, decided without doing it: kubelet's computePodActions.

`compute_pod_actions` reads the Pod, what the node observes of its containers, the clock, the
crash-loop back-off and the probes' verdicts, and returns a `PodActions` value; `node/sync.py`
carries it out. Nothing here does I/O or changes its inputs, so the Pod state machine (init order,
native sidecars, restart policies, back-off, liveness and startup verdicts,
activeDeadlineSeconds, termination order and grace) is tested table by table without root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from podhost.api import meta
from podhost.api.types import Obj
from podhost.node.backoff import BackOff
from podhost.node.pod_state import ContainerRecord

CONFIG_ERROR_RETRY = 10.0  # kubelet's pod worker back-off after a failed sync (backOffPeriod)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
# waiting reasons of an attempt that failed: the next start waits out the crash-loop back-off
FAILED_START = ("CrashLoopBackOff", "RunContainerError", "CreateContainerError",
                "CreateContainerConfigError")


@dataclass(frozen=True)
class ContainerToStart:
    name: str
    count_restart: bool = False  # a restart after a failure: BackOff.next before starting
    ran_for: float = 0.0  # how long the last attempt ran (10 min resets the back-off)
    config_retry: bool = False  # never ran; a config error retried every CONFIG_ERROR_RETRY


@dataclass(frozen=True)
class ContainerToKill:
    name: str
    reason: str  # "liveness probe", "startup probe"
    message: str  # the Killing event
    grace: float | None = None  # the probe's terminationGracePeriodSeconds (None: the Pod's)


@dataclass(frozen=True)
class BackOffWait:
    """A container waiting out crash-loop back-off: CrashLoopBackOff and a BackOff event."""

    name: str
    left: float
    delay: float


@dataclass(frozen=True)
class PodActions:
    kill_pod: tuple[str, str] | None = None  # (reason, message): stop everything, phase Failed
    stop_all: bool = False  # the Pod is finished (evicted) but containers run: stop them
    clean_up_terminal: bool = False  # finished: release volumes and sandbox, keep the record
    create_sandbox: bool = False
    containers_to_kill: tuple[ContainerToKill, ...] = ()
    init_to_start: ContainerToStart | None = None
    sidecars_to_start: tuple[ContainerToStart, ...] = ()  # restarted one by one, in order
    containers_to_start: tuple[ContainerToStart, ...] = ()  # started together
    ephemerals_to_start: tuple[ContainerToStart, ...] = ()  # once each, never restarted
    back_off: tuple[BackOffWait, ...] = ()
    keep_terminated: tuple[str, ...] = ()  # ended for good under the restart policy
    stop_sidecars: bool = False  # the app containers are done: sidecars go, in reverse
    initialized: bool = False
    wake_after: float | None = None  # sync again within this many seconds


@dataclass(frozen=True)
class ProbeFailure:
    """A liveness or startup verdict of failure for one attempt (container id)."""

    kind: str  # "Liveness" or "Startup"
    container_id: str
    grace: float | None = None


@dataclass(frozen=True)
class PodObservation:
    """What the node knows of the Pod beyond its spec."""

    uid: str
    records: Mapping[str, ContainerRecord]
    sandbox_ready: bool = True
    active_seconds: float | None = None  # since status.startTime (None: not started)
    failed: bool = False  # kill_pod already decided (DeadlineExceeded)
    initialized: bool = False  # every init container done once
    probe_failures: Mapping[str, ProbeFailure] = field(default_factory=dict)
    config_retry_at: Mapping[str, float] = field(default_factory=dict)  # monotonic times


def should_restart(policy: str, exit_code: int | None) -> bool:
    """restartPolicy applied to a container that ended with exit_code."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def restart_policy(pod: Obj) -> str:
    return str(pod.get("spec", {}).get("restartPolicy") or "Always")


def inits_of(pod: Obj, records: Mapping[str, ContainerRecord]) -> list[ContainerRecord]:
    return [records[c["name"]] for c in pod.get("spec", {}).get("initContainers") or []]


def apps_of(pod: Obj, records: Mapping[str, ContainerRecord]) -> list[ContainerRecord]:
    return [records[c["name"]] for c in pod.get("spec", {}).get("containers") or []]


def ephemerals_of(pod: Obj, records: Mapping[str, ContainerRecord]) -> list[ContainerRecord]:
    return [records[c["name"]] for c in pod.get("spec", {}).get("ephemeralContainers") or []
            if c.get("name") in records]


def apps_done(pod: Obj, records: Mapping[str, ContainerRecord]) -> bool:
    """Every app container ended and none will restart (restartPolicy Never/OnFailure)."""
    policy = restart_policy(pod)
    return all(r.terminated and not should_restart(policy, r.exit_code)
               for r in apps_of(pod, records))


def backoff_key(uid: str, name: str) -> str:
    return f"{uid}/{name}"


def config_error_retry(rec: ContainerRecord) -> bool:
    """A container that never ran and cannot be configured or created yet (a missing
    ConfigMap, Secret or key, runAsNonRoot, a mount that cannot propagate...): retried on the
    next sync, not crash-loop backed off."""
    return rec.waiting_reason in ("CreateContainerConfigError", "CreateContainerError") and \
        not rec.last_state and rec.exit_code is None


def ran_for(rec: ContainerRecord) -> float:
    """Seconds the container's last attempt ran (0 when unknown)."""
    if rec.started_at and rec.finished_at:
        return (meta.parse_time(rec.finished_at) - meta.parse_time(rec.started_at)
                ).total_seconds()
    return 0.0


def deadline_left(pod: Obj, active_seconds: float | None) -> float:
    """Seconds before activeDeadlineSeconds passes (inf without one, or before start)."""
    deadline = pod.get("spec", {}).get("activeDeadlineSeconds")
    if deadline is None or active_seconds is None:
        return float("inf")
    return float(deadline) - active_seconds


def grace_period(pod: Obj) -> float:
    """The Pod's grace period: the deletion's if it is being deleted, else the spec's."""
    grace = pod["metadata"].get("deletionGracePeriodSeconds")
    if grace is None:
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    return float(grace)


def termination_grace(pod: Obj, removed: bool) -> float:
    """A Pod removed from the store without a graceful delete (--grace-period=0 --force) is
    killed at once; otherwise it has its grace period."""
    if removed and not pod["metadata"].get("deletionTimestamp"):
        return 0.0
    return grace_period(pod)


def termination_order(pod: Obj, records: Mapping[str, ContainerRecord]
                      ) -> tuple[list[ContainerRecord], list[ContainerRecord]]:
    """Who stops first: app containers (and regular init containers) together, then native
    sidecars one by one in reverse order of their start."""
    first = [r for r in [*inits_of(pod, records), *apps_of(pod, records),
                         *ephemerals_of(pod, records)]
             if not r.sidecar and r.running and r.id]
    sidecars = [r for r in reversed(inits_of(pod, records)) if r.sidecar]
    return first, sidecars


class _Planner:
    """One computation of PodActions; collects wake-ups and waits as it goes."""

    def __init__(self, pod: Obj, seen: PodObservation, now: float, backoff: BackOff) -> None:
        self.pod, self.seen, self.now, self.backoff = pod, seen, now, backoff
        self.policy = restart_policy(pod)
        self.waits: list[BackOffWait] = []
        self.wakes: list[float] = []

    def start(self, rec: ContainerRecord) -> ContainerToStart | None:
        """How to start rec now, or None when it must wait (the wait is recorded)."""
        if config_error_retry(rec):
            left = self.seen.config_retry_at.get(rec.name, 0.0) - self.now
            if left > 0:
                self.wakes.append(left)
                return None
            return ContainerToStart(rec.name, config_retry=True)
        if rec.terminated or rec.waiting_reason in FAILED_START:
            key = backoff_key(self.seen.uid, rec.name)
            left = self.backoff.in_backoff(key, self.now)
            if left > 0:
                self.waits.append(BackOffWait(rec.name, left, self.backoff.delay(key)))
                self.wakes.append(left)
                return None
            return ContainerToStart(rec.name, count_restart=True, ran_for=ran_for(rec))
        return ContainerToStart(rec.name)

    def kills(self) -> tuple[ContainerToKill, ...]:
        """Running containers whose current attempt failed its liveness or startup probe."""
        out = []
        for name, failure in self.seen.probe_failures.items():
            rec = self.seen.records.get(name)
            if rec is None or not rec.running or rec.id != failure.container_id:
                continue
            what = "liveness" if failure.kind == "Liveness" else "startup"
            out.append(ContainerToKill(
                name, f"{what} probe",
                f"Container {name} failed {what} probe, will be restarted", failure.grace))
        return tuple(out)

    def init_containers(self) -> tuple[bool, ContainerToStart | None, tuple[ContainerToStart, ...]]:
        """(initialized, the init container to start next, sidecars to restart)."""
        records = self.seen.records
        apps = apps_of(self.pod, records)
        initialized = self.seen.initialized or any(r.id is not None or r.attempt for r in apps)
        inits = inits_of(self.pod, records)
        if initialized:
            if apps_done(self.pod, records):
                return True, None, ()
            restarts = [self.start(r)
                        for r in inits if r.sidecar and not r.running]
            return True, None, tuple(s for s in restarts if s is not None)
        for rec in inits:
            if rec.sidecar:
                if rec.running and rec.started_ok:
                    continue
                if rec.running:
                    return False, None, ()  # its startup probe gates the next one
                return False, self.start(rec), ()
            if rec.terminated and rec.exit_code == 0 and not rec.waiting_reason:
                continue
            if rec.running or (rec.terminated and self.policy == "Never"):
                return False, None, ()  # running, or failed for good (phase Failed)
            return False, self.start(rec), ()
        return True, None, ()

    def app_containers(self) -> tuple[tuple[ContainerToStart, ...], tuple[str, ...]]:
        starts, finished = [], []
        for rec in apps_of(self.pod, self.seen.records):
            if rec.running:
                continue
            if rec.terminated and not should_restart(self.policy, rec.exit_code):
                finished.append(rec.name)
                continue
            start = self.start(rec)
            if start is not None:
                starts.append(start)
        return tuple(starts), tuple(finished)

    def ephemeral_containers(self) -> tuple[ContainerToStart, ...]:
        """kubelet's EphemeralContainersToStart: each one that never ran, once the sandbox is
        there (init containers need not be done); one that ended stays ended."""
        starts = []
        for rec in ephemerals_of(self.pod, self.seen.records):
            if rec.id is not None or rec.terminated or rec.started_at:
                continue
            if config_error_retry(rec):
                left = self.seen.config_retry_at.get(rec.name, 0.0) - self.now
                if left > 0:
                    self.wakes.append(left)
                    continue
                starts.append(ContainerToStart(rec.name, config_retry=True))
                continue
            starts.append(ContainerToStart(rec.name))
        return tuple(starts)


def compute_pod_actions(pod: Obj, seen: PodObservation, now: float, backoff: BackOff
                        ) -> PodActions:
    """The next step for a Pod that is not being terminated.

    `now` is the monotonic clock of `backoff` and of `seen.config_retry_at`."""
    records = seen.records
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        if any(r.running for r in records.values()):
            return PodActions(stop_all=True, initialized=seen.initialized)
        return PodActions(clean_up_terminal=True, initialized=seen.initialized)
    if seen.failed:
        return PodActions(initialized=seen.initialized)
    left = deadline_left(pod, seen.active_seconds)
    if left <= 0:
        return PodActions(kill_pod=("DeadlineExceeded", DEADLINE_MESSAGE),
                          initialized=seen.initialized)
    planner = _Planner(pod, seen, now, backoff)
    if left != float("inf"):
        planner.wakes.append(left)
    kills = planner.kills()
    ephemerals = planner.ephemeral_containers()
    initialized, init, sidecars = planner.init_containers()
    starts: tuple[ContainerToStart, ...] = ()
    finished: tuple[str, ...] = ()
    stop_sidecars = False
    if initialized:
        starts, finished = planner.app_containers()
        stop_sidecars = apps_done(pod, records) and any(
            r.running for r in inits_of(pod, records) if r.sidecar)
    return PodActions(
        create_sandbox=not seen.sandbox_ready, containers_to_kill=kills, init_to_start=init,
        sidecars_to_start=sidecars, containers_to_start=starts, ephemerals_to_start=ephemerals,
        back_off=tuple(planner.waits),
        keep_terminated=finished, stop_sidecars=stop_sidecars, initialized=initialized,
        wake_after=min(planner.wakes) if planner.wakes else None)


def initial_records(pod: Obj, records: Mapping[str, ContainerRecord] | None = None
                    ) -> dict[str, ContainerRecord]:
    """A record for every container of the spec (existing records kept, image updated)."""
    out = dict(records or {})
    spec = pod.get("spec", {})
    has_inits = bool(spec.get("initContainers"))
    groups: Sequence[tuple[str, list[Obj]]] = (("init", spec.get("initContainers") or []),
                                               ("app", spec.get("containers") or []),
                                               ("ephemeral", spec.get("ephemeralContainers") or []))
    for kind, containers in groups:
        init = kind == "init"
        for c in containers:
            rec = out.get(c["name"])
            if rec is None:
                rec = ContainerRecord(c["name"], c.get("image", ""), init=init,
                                      ephemeral=kind == "ephemeral")
                rec.waiting_reason = "PodInitializing" if kind == "app" and has_inits else \
                    "ContainerCreating"
                out[c["name"]] = rec
            rec.image = c.get("image", rec.image)
            rec.sidecar = init and c.get("restartPolicy") == "Always"
    return out
