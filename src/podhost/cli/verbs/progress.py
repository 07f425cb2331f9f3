"""`podhost apply --wait`: follow each applied Pod until it runs, fails or the time is up,
printing its pull and container events and each container's state as they change.

Only the standard API is used (the Pod and its Events), so it works against any cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from podhost.api.types import Obj
from podhost.cli import client as clientmod

# waiting reasons that will not clear by themselves
STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
         "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
         "ErrImageNeverPull"}
POLL = 0.25


def container_state(status: Obj) -> str:
    """One word (and reason) for a containerStatuses entry: Running, Waiting: X, …"""
    state = status.get("state") or {}
    if "running" in state:
        return "Running, ready" if status.get("ready") else "Running"
    if "terminated" in state:
        t = state["terminated"]
        return f"Terminated: {t.get('reason') or 'Error'} (exit code {t.get('exitCode')})"
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
    return f"Waiting: {reason}"


def verdict(pod: Obj) -> tuple[str, bool] | None:
    """(final words, ok) once the Pod runs with every container started, or cannot start."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Pending")
    statuses = [*(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or [])]
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK:
            message = waiting.get("message") or waiting["reason"]
            return f"container {s['name']}: {waiting['reason']}: {message}", False
    if phase == "Failed":
        return f"the Pod failed: {status.get('reason') or ''} {status.get('message') or ''}", False
    if phase == "Succeeded":
        return "the Pod completed", True
    apps = status.get("containerStatuses") or []
    if phase == "Running" and apps and all("running" in (s.get("state") or {}) for s in apps):
        return "Running", True
    return None


@dataclass
class Follower:
    """What has been printed for one Pod, so that only changes are printed."""

    label: str
    states: dict[str, str] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)

    def changes(self, pod: Obj, events: list[Obj]) -> list[str]:
        lines = []
        for e in sorted(events, key=lambda e: e.get("lastTimestamp") or ""):
            # a repeated event is the same Event with a higher count: print each occurrence
            uid = f"{e['metadata'].get('uid') or e['metadata']['name']}/{e.get('count') or 1}"
            if uid not in self.events:
                self.events.add(uid)
                lines.append(f"  {e.get('reason', '')}: {e.get('message', '')}")
        status = pod.get("status") or {}
        for s in [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]:
            now = container_state(s)
            if self.states.get(s["name"]) != now:
                self.states[s["name"]] = now
                lines.append(f"  {s['name']}: {now}")
        return lines


def follow_pod(client: clientmod.Client, ns: str, name: str, deadline: float) -> bool:
    """Print progress until the Pod runs (True), cannot (False) or the deadline passes."""
    path = clientmod.resource_path("pods", ns, name)
    follower = Follower(f"pod/{name}")
    while True:
        pod = client.get(path)
        uid = pod["metadata"].get("uid", "")
        events = client.get(clientmod.with_query(
            clientmod.resource_path("events", ns),
            {"fieldSelector": f"involvedObject.uid={uid}"})).get("items") or []
        for line in follower.changes(pod, events):
            print(line, flush=True)
        result = verdict(pod)
        if result is not None:
            words, ok = result
            print(f"{follower.label} {words}" if ok else f"error: {follower.label}: {words}",
                  flush=True)
            return ok
        if time.monotonic() >= deadline:
            print(f"error: timed out waiting for {follower.label} to run", flush=True)
            return False
        time.sleep(POLL)
