"""What the node knows of each container of a Pod, across its attempts, and the named
transitions that change it (kubelet keeps the same in its runtime cache and status manager)."""

from __future__ import annotations

from dataclasses import dataclass, field

from podhost.api.types import Obj

EXIT_KILLED = 137  # 128 + SIGKILL: the code of a container whose exit code could not be read


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
    ephemeral: bool = False  # started once, never restarted (kubectl debug)

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
            return self.terminated_state()
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
                       "ready": self.ready and self.running and not self.ephemeral,
                       "restartCount": self.attempt, "image": self.image,
                       "imageID": self.image_id, "started": self.running and self.started_ok}
        if self.id:
            status["containerID"] = f"podhost://{self.id}"
        return status

    # -- transitions ---------------------------------------------------------------------
    def begin_attempt(self) -> None:
        """A new attempt: the previous one, if it ended, becomes lastState and counts as a
        restart."""
        if self.exit_code is not None:
            self.last_state = self.terminated_state()
            self.attempt += 1
        self.id, self.started_at, self.finished_at, self.exit_code = None, None, None, None
        self.reason, self.message = "", ""

    def wait(self, reason: str, message: str = "") -> None:
        self.waiting_reason, self.waiting_message = reason, message

    def fail_to_start(self, reason: str, message: str) -> None:
        """The attempt could not be created or started: waiting with kubelet's reason."""
        if self.exit_code is not None:
            self.last_state = self.terminated_state()
        self.id, self.exit_code = None, None
        self.wait(reason, message)

    def mark_started(self, started_at: str, *, startup_probe: bool, readiness_probe: bool
                     ) -> None:
        self.started_at = started_at
        self.wait("")
        self.started_ok = not startup_probe
        self.ready = not (startup_probe or readiness_probe)

    def mark_exited(self, code: int, *, oom: bool, message: str, finished_at: str) -> None:
        """The one way a container's end is recorded, however it ended."""
        self.exit_code = code
        self.finished_at = finished_at
        self.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        self.message = message
        self.wait("")
        self.ready = False

    def adopt(self, container_id: str, attempt: int, started_at: str, image_id: str) -> None:
        """A container that outlived a restart of the node becomes this record's attempt."""
        self.id, self.attempt, self.started_at = container_id, attempt, started_at
        self.image_id = image_id
        self.wait("")
        self.ready = True

    def enter_backoff(self, message: str) -> None:
        """Waiting out crash-loop back-off; the attempt that ended moves to lastState."""
        if self.terminated:
            if self.waiting_reason != "CrashLoopBackOff":
                self.last_state = self.terminated_state()
            self.waiting_reason = "CrashLoopBackOff"
        self.waiting_message = message

    def restore(self, status: Obj) -> None:
        """After a restart of the node: what the stored status knows that runc does not."""
        ended = (status.get("state") or {}).get("terminated")
        if self.ephemeral and self.id is None and ended:  # it ran once: never again
            self.exit_code, self.reason = int(ended.get("exitCode") or 0), ended.get("reason", "")
            self.started_at, self.finished_at = ended.get("startedAt"), ended.get("finishedAt")
            self.id = str(ended.get("containerID") or "").removeprefix("podhost://") or None
            self.wait("")
        if not self.last_state and status.get("lastState"):
            self.last_state = status["lastState"]
        if self.id is None and status.get("restartCount"):
            self.attempt = max(self.attempt, int(status["restartCount"]))


class ContainerIndex:
    """The node's containers by runtime id, each with its Pod worker's key and record: what the
    exit poller, log rotation, image bookkeeping and recovery look up."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, ContainerRecord]] = {}

    def add(self, container_id: str, uid: str, rec: ContainerRecord) -> None:
        self.entries[container_id] = (uid, rec)

    def remove(self, container_id: str) -> bool:
        return self.entries.pop(container_id, None) is not None

    def get(self, container_id: str) -> tuple[str, ContainerRecord] | None:
        return self.entries.get(container_id)

    def forget_pod(self, uid: str) -> None:
        for cid in [c for c, (u, _) in self.entries.items() if u == uid]:
            del self.entries[cid]

    def image_ids(self) -> set[str]:
        return {rec.image_id for _, rec in self.entries.values() if rec.image_id}

    def __contains__(self, container_id: object) -> bool:
        return container_id in self.entries

    def items(self) -> list[tuple[str, tuple[str, ContainerRecord]]]:
        return list(self.entries.items())
