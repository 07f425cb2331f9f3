"""Pod status from container records, as kubelet's generateAPIPodStatus computes it (pure)."""

from __future__ import annotations

from podhost.api import meta
from podhost.api.types import Obj
from podhost.node.pod_state import ContainerRecord


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
               failure: tuple[str, str] | None = None, pod_ip: str | None = None,
               ephemerals: list[ContainerRecord] | None = None) -> Obj:
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
    if ephemerals:
        status["ephemeralContainerStatuses"] = [c.to_status() for c in ephemerals]
    return status
