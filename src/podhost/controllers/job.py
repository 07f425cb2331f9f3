"""The Job controller (pkg/controller/job): Pods from the template until `completions` succeed,
`parallelism` at a time; NonIndexed or Indexed (`batch.kubernetes.io/job-completion-index`,
JOB_COMPLETION_INDEX, hostname `<job>-<index>`); failures against backoffLimit with exponential
back-off (10 s doubling, at most 6 min), podFailurePolicy (FailJob, Ignore, Count on exit
codes), activeDeadlineSeconds, suspend, ttlSecondsAfterFinished; the conditions FailureTarget
then Failed (BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy) and SuccessCriteriaMet
then Complete, as upstream sets them once the Job's Pods are gone."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from podhost.api import errors, meta
from podhost.api.types import Obj
from podhost.controllers import events
from podhost.controllers import jobutil as ju
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch

KIND, API_VERSION = "Job", "batch/v1"
BACKOFF, MAX_BACKOFF = 10.0, 360.0


class JobController(Controller):
    name = "job-controller"

    def watches(self) -> list[Watch]:
        return [Watch("jobs", w.own_key), Watch("pods", w.owner_keys(KIND))]

    def reconcile(self, key: str) -> float | None:
        job = w.get(self.store, "jobs", key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        now = meta.now()
        if ju.finished(job):
            return self._expire(job, now)
        pods = w.owned(self.store, "pods", job)
        status = copy.deepcopy(job.get("status") or {})
        again = self.sync(job, pods, status, now)
        pods = w.owned(self.store, "pods", job)
        ju.count(job, pods, status)
        w.write_status(self.store, "jobs", job, status)
        if ju.finished({"status": status}):
            return self._expire({**job, "status": status}, now)
        return again

    def sync(self, job: Obj, pods: list[Obj], status: Obj, now: datetime) -> float | None:
        """One pass: fail, complete, suspend or make Pods; returns when to look again."""
        spec = job.get("spec") or {}
        conds = status.get("conditions") or []
        ju.count(job, pods, status)
        active = [p for p in pods if w.active(p)]
        failure = ju.failure_target(job, pods, status, now) or \
            self._pending_failure(conds)
        if failure is not None:
            return self._fail(job, pods, active, status, failure)
        if ju.succeeded_all(job, pods, status, active):
            return self._complete(job, pods, active, status, now)
        if spec.get("suspend"):
            for pod in active:
                w.delete(self.store, "pods", pod)
            status["conditions"] = w.set_condition(conds, ju.condition(
                "Suspended", "True", "JobSuspended", "Job suspended", conds))
            status.pop("startTime", None)
            return None
        if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
            status["conditions"] = w.set_condition(conds, ju.condition(
                "Suspended", "False", "JobResumed", "Job resumed", conds))
        status.setdefault("startTime", meta.rfc3339(now))
        wait = self._backoff(pods, status, now)
        if wait is None:
            self.make_pods(job, active, pods)
        deadline = spec.get("activeDeadlineSeconds")
        left = None
        if deadline is not None:
            started = meta.parse_time(status["startTime"])
            left = max(0.05, deadline - (now - started).total_seconds())
        return min((x for x in (wait, left) if x is not None), default=None)

    @staticmethod
    def _pending_failure(conds: list[Obj]) -> tuple[str, str] | None:
        target = next((c for c in conds if c.get("type") == "FailureTarget" and
                       c.get("status") == "True"), None)
        return (target["reason"], target["message"]) if target else None

    def _fail(self, job: Obj, pods: list[Obj], active: list[Obj], status: Obj,
              failure: tuple[str, str]) -> float | None:
        conds = status.get("conditions") or []
        reason, message = failure
        conds = w.set_condition(conds, ju.condition("FailureTarget", "True", reason, message,
                                                    conds))
        for pod in active:
            w.delete(self.store, "pods", pod)
        if not any(not w.terminal(p) for p in w.owned(self.store, "pods", job)):
            if not w.has_condition(job, "Failed"):
                events.record(self.store, self.name, job, reason, message, "Warning")
            conds = w.set_condition(conds, ju.condition("Failed", "True", reason, message,
                                                        conds))
        status["conditions"] = conds
        return None

    def _complete(self, job: Obj, pods: list[Obj], active: list[Obj], status: Obj,
                  now: datetime) -> float | None:
        conds = status.get("conditions") or []
        text = "Reached expected number of succeeded pods"
        conds = w.set_condition(conds, ju.condition("SuccessCriteriaMet", "True",
                                                    "CompletionsReached", text, conds))
        for pod in active:
            w.delete(self.store, "pods", pod)
        if not any(not w.terminal(p) for p in w.owned(self.store, "pods", job)):
            conds = w.set_condition(conds, ju.condition("Complete", "True",
                                                        "CompletionsReached", text, conds))
            events.record(self.store, self.name, job, "Completed", "Job completed")
            status["completionTime"] = meta.rfc3339(now)
        status["conditions"] = conds
        return None

    def _backoff(self, pods: list[Obj], status: Obj, now: datetime) -> float | None:
        """Seconds to wait before replacing failed Pods (10 s doubling per failure)."""
        failed = int(status.get("failed", 0))
        last = ju.last_failure(pods)
        if not failed or last is None:
            return None
        delay = min(BACKOFF * 2 ** (failed - 1), MAX_BACKOFF)
        left = (last + timedelta(seconds=delay) - now).total_seconds()
        return left if left > 0 else None

    def make_pods(self, job: Obj, active: list[Obj], pods: list[Obj]) -> None:
        spec = job.get("spec") or {}
        parallelism = int(spec.get("parallelism", 1))
        ref = w.controller_of(job, KIND, API_VERSION)
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        template = spec.get("template") or {}
        if spec.get("completionMode") == "Indexed":
            for index in ju.missing_indexes(job, pods, active)[:parallelism - len(active)]:
                self._made(job, self._create(job, ju.indexed_pod(
                    template, ref, ns, name, index)))
            return
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        completions = spec.get("completions")
        if completions is None:
            want = parallelism if succeeded == 0 else len(active)
        else:
            want = min(parallelism, int(completions) - succeeded)
        for _ in range(want - len(active)):
            self._made(job, self._create(job, w.new_pod(
                template, ref, ns, generate_name=f"{name}-")))

    def _create(self, job: Obj, pod: Obj) -> Obj | None:
        try:
            return w.create(self.store, "pods", pod)
        except errors.ForbiddenError as e:  # PodSecurity's enforce level
            events.record(self.store, self.name, job, "FailedCreate",
                          f"Error creating: {e.message}", "Warning")
            return None

    def _made(self, job: Obj, pod: Obj | None) -> None:
        if pod is not None:
            events.record(self.store, self.name, job, "SuccessfulCreate",
                          f"Created pod: {pod['metadata']['name']}")

    def _expire(self, job: Obj, now: datetime) -> float | None:
        """ttlSecondsAfterFinished: the TTL-after-finished controller's part."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        finished = ju.finish_time(job)
        left = (finished + timedelta(seconds=ttl) - now).total_seconds() if finished else 0
        if left > 0:
            return left
        fresh = w.get(self.store, "jobs", w.key_of(job))
        if fresh is not None:
            w.delete(self.store, "jobs", fresh, policy="Background")
        return None
