"""Pod status from container records, as kubelet's generateAPIPodStatus computes it (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from podhost.api import meta
from podhost.api.types import Obj


@dataclass
class ContainerRecord:
    """What the node knows of one container of a Pod (all attempts)."""

    name: str
    image: str
    init: bool = False
    id: str | None = None
    image_id: str = ""
    attempt: int = 0  # restart count
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str = ""  # terminated reason (Completed, Error, OOMKilled)
    message: str = ""
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started_ok: bool = True  # the startup probe passed (or there is none)
    sidecar: bool = False  # an init container with restartPolicy Always

    @property
    def running(self) -> bool:
        return self.id is not None and self.started_at is not None and self.exit_code is None

    @property
    def terminated(self) -> bool:
        return self.exit_code is not None

    def state(self) -> Obj:
        if self.running:
            return {"running": {"startedAt": self.started_at}}
        if self.terminated and not self.waiting_reason:
            term: Obj = {"exitCode": self.exit_code, "reason": self.reason,
                         "startedAt": self.started_at, "finishedAt": self.finished_at,
                         "containerID": f"podhost://{self.id}"}
            if self.message:
                term["message"] = self.message
            return {"terminated": term}
        waiting: Obj = {"reason": self.waiting_reason or "ContainerCreating"}
        if self.waiting_message:
            waiting["message"] = self.waiting_message
        return {"waiting": waiting}

    def has_started(self) -> bool:
        """A sidecar counts as initialised once it has run (and passed its startup probe)."""
        return (self.running and self.started_ok) or self.attempt > 0 or self.terminated

    def initialized(self) -> bool:
        if self.sidecar:
            return self.has_started()
        return self.terminated and self.exit_code == 0 and not self.waiting_reason

    def terminated_state(self) -> Obj:
        term: Obj = {"exitCode": self.exit_code, "reason": self.reason,
                     "startedAt": self.started_at, "finishedAt": self.finished_at,
                     "containerID": f"podhost://{self.id}"}
        if self.message:
            term["message"] = self.message
        return {"terminated": term}

    def to_status(self) -> Obj:
        status: Obj = {"name": self.name, "state": self.state(), "lastState": self.last_state,
                       "ready": self.ready and self.running, "restartCount": self.attempt,
                       "image": self.image, "imageID": self.image_id,
                       "started": self.running and self.started_ok}
        if self.id:
            status["containerID"] = f"podhost://{self.id}"
        return status


def phase(pod: Obj, inits: list[ContainerRecord], apps: list[ContainerRecord],
          sandbox_ready: bool) -> str:
    """getPhase: Pending until initialised; then Running, Succeeded or Failed."""
    policy = pod.get("spec", {}).get("restartPolicy", "Always")
    for c in inits:
        if c.sidecar:
            if not c.has_started():
                return "Pending"
            continue
        if c.terminated and c.exit_code != 0 and policy == "Never" and not c.waiting_reason:
            return "Failed"
        if not (c.terminated and c.exit_code == 0):
            return "Pending"
    if not sandbox_ready and not any(c.terminated for c in apps):
        return "Pending"
    running = stopped = succeeded = waiting = 0
    for c in apps:
        if c.running:
            running += 1
        elif c.terminated and not c.waiting_reason:
            stopped += 1
            succeeded += c.exit_code == 0
        elif c.last_state:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def _condition(kind: str, ok: bool, old: list[Obj], reason: str = "") -> Obj:
    status = "True" if ok else "False"
    prev = next((c for c in old if c.get("type") == kind), None)
    when = prev["lastTransitionTime"] if prev and prev.get("status") == status else meta.rfc3339()
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def conditions(pod: Obj, inits: list[ContainerRecord], apps: list[ContainerRecord],
               sandbox_ready: bool, pod_phase: str) -> list[Obj]:
    old = pod.get("status", {}).get("conditions") or []
    initialized = all(c.initialized() for c in inits)
    not_ready = [c.name for c in [*[i for i in inits if i.sidecar], *apps]
                 if not (c.running and c.ready)]
    ready = not not_ready and pod_phase == "Running"
    reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    init_reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") \
        else "ContainersNotInitialized"
    conds = [_condition("PodReadyToStartContainers", sandbox_ready, old),
             _condition("Initialized", initialized or pod_phase == "Succeeded", old, init_reason),
             _condition("Ready", ready, old, reason),
             _condition("ContainersReady", ready, old, reason),
             _condition("PodScheduled", True, old)]
    for c in conds:
        if c["status"] == "False" and c["type"] in ("Ready", "ContainersReady") \
                and reason == "ContainersNotReady":
            c["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
    return conds


def pod_status(pod: Obj, inits: list[ContainerRecord], apps: list[ContainerRecord],
               sandbox_ready: bool, host_ip: str, start_time: str | None,
               failure: tuple[str, str] | None = None, pod_ip: str | None = None) -> Obj:
    """The Pod's status; `failure` (reason, message) forces phase Failed (DeadlineExceeded)."""
    pod_phase = "Failed" if failure else phase(pod, inits, apps, sandbox_ready)
    status: Obj = {"phase": pod_phase,
                   "conditions": conditions(pod, inits, apps, sandbox_ready, pod_phase),
                   "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "qosClass": pod.get("status", {}).get("qosClass", "BestEffort")}
    if failure:
        status["reason"], status["message"] = failure
    if pod_ip:
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    if start_time:
        status["startTime"] = start_time
    if inits:
        status["initContainerStatuses"] = [c.to_status() for c in inits]
    status["containerStatuses"] = [c.to_status() for c in apps]
    return status
