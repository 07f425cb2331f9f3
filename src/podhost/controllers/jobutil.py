"""Pure parts of the Job controller: counting Pods into the status (active, ready,
terminating, succeeded, failed, completedIndexes), the failure rules (backoffLimit,
podFailurePolicy, activeDeadlineSeconds), Indexed completion and conditions."""

from __future__ import annotations

from datetime import datetime

from podhost.api import meta
from podhost.api.types import Obj
from podhost.controllers import workload as w

INDEX = "batch.kubernetes.io/job-completion-index"


def condition(kind: str, status: str, reason: str, message: str, old: list[Obj]) -> Obj:
    cond = w.condition(kind, status, reason, message, old)
    now = cond.pop("lastTransitionTime")
    prior = next((c for c in old if c.get("type") == kind), None)
    return {"type": kind, "status": status, "lastProbeTime": now,
            "lastTransitionTime": prior["lastTransitionTime"]
            if prior and prior.get("status") == status else now,
            "reason": reason, "message": message}


def finished(job: Obj) -> bool:
    return w.has_condition(job, "Complete") or w.has_condition(job, "Failed")


def finish_time(job: Obj) -> datetime | None:
    status = job.get("status") or {}
    if status.get("completionTime"):
        return meta.parse_time(status["completionTime"])
    for c in status.get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            return meta.parse_time(c["lastTransitionTime"])
    return None


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def pod_index(pod: Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(INDEX)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_indexes(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """`0-2,4`: runs of consecutive indexes."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def _rule_matches(rule: Obj, pod: Obj) -> str | None:
    """The container whose exit code (or the condition) a podFailurePolicy rule matches."""
    status = pod.get("status") or {}
    codes = rule.get("onExitCodes")
    if codes:
        for cs in status.get("containerStatuses") or []:
            if codes.get("containerName") and cs.get("name") != codes["containerName"]:
                continue
            code = ((cs.get("state") or {}).get("terminated") or {}).get("exitCode")
            if code is None or code == 0:
                continue
            inside = code in (codes.get("values") or [])
            if inside == (codes.get("operator") == "In"):
                return f"{cs.get('name')}:{code}"
        return None
    for pattern in rule.get("onPodConditions") or []:
        if any(c.get("type") == pattern.get("type") and
               c.get("status") == pattern.get("status", "True")
               for c in status.get("conditions") or []):
            return ""
    return None


def failure_rule(job: Obj, pod: Obj) -> tuple[int, str, str] | None:
    """(index, action, container:code) of the first podFailurePolicy rule the failed Pod
    matches."""
    policy = (job.get("spec") or {}).get("podFailurePolicy") or {}
    for i, rule in enumerate(policy.get("rules") or []):
        found = _rule_matches(rule, pod)
        if found is not None:
            return i, str(rule.get("action")), found
    return None


def counted_failures(job: Obj, pods: list[Obj]) -> list[Obj]:
    """Failed Pods that count against backoffLimit (not ignored by the policy)."""
    out = []
    for pod in pods:
        if _phase(pod) != "Failed":
            continue
        rule = failure_rule(job, pod)
        if rule is None or rule[1] != "Ignore":
            out.append(pod)
    return out


def count(job: Obj, pods: list[Obj], status: Obj) -> None:
    """The Pod counts of the status, monotonic for succeeded and failed."""
    active = [p for p in pods if w.active(p)]
    status["active"] = len(active)
    status["ready"] = sum(1 for p in active if w.ready(p))
    status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp")
                                and not w.terminal(p))
    failing = any(c.get("type") == "FailureTarget" and c.get("status") == "True"
                  for c in status.get("conditions") or [])
    status.setdefault("succeeded", 0)
    if failing:  # Pods that end after the Job failed do not count as successes
        pass
    elif (job.get("spec") or {}).get("completionMode") == "Indexed":
        done = parse_indexes(status.get("completedIndexes", ""))
        done |= {i for p in pods if _phase(p) == "Succeeded"
                 and (i := pod_index(p)) is not None}
        status["succeeded"] = len(done)
        if done:
            status["completedIndexes"] = format_indexes(done)
    else:
        status["succeeded"] = max(int(status.get("succeeded", 0)),
                                  sum(1 for p in pods if _phase(p) == "Succeeded"))
    status["failed"] = max(int(status.get("failed", 0)), len(counted_failures(job, pods)))
    for key in ("active", "succeeded", "failed"):
        if not status.get(key):
            status.pop(key, None)
    status.setdefault("uncountedTerminatedPods", {})


def failure_target(job: Obj, pods: list[Obj], status: Obj, now: datetime
                   ) -> tuple[str, str] | None:
    """(reason, message) when the Job has failed: a FailJob rule, the back-off limit or the
    deadline."""
    spec = job.get("spec") or {}
    for pod in pods:
        rule = failure_rule(job, pod) if _phase(pod) == "Failed" else None
        if rule is not None and rule[1] == "FailJob":
            container, _, code = rule[2].partition(":")
            m = pod["metadata"]
            return ("PodFailurePolicy", f"Container {container} for pod {m['namespace']}/"
                    f"{m['name']} failed with exit code {code} matching FailJob rule at "
                    f"index {rule[0]}")
    limit = int(spec.get("backoffLimit", 6))
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") == "OnFailure":
        restarts = sum(cs.get("restartCount", 0) for p in pods if not w.terminal(p)
                       for cs in [*((p.get("status") or {}).get("containerStatuses") or []),
                                  *((p.get("status") or {}).get("initContainerStatuses")
                                    or [])])  # pastBackoffLimitOnFailure
        if (restarts > 0) if limit == 0 else (restarts >= limit):
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    if int(status.get("failed", 0)) > limit:
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and status.get("startTime") and \
            (now - meta.parse_time(status["startTime"])).total_seconds() >= deadline:
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def succeeded_all(job: Obj, pods: list[Obj], status: Obj, active: list[Obj]) -> bool:
    spec = job.get("spec") or {}
    completions = spec.get("completions")
    succeeded = int(status.get("succeeded", 0))
    if completions is None:
        return succeeded > 0 and not active
    return succeeded >= int(completions)


def missing_indexes(job: Obj, pods: list[Obj], active: list[Obj]) -> list[int]:
    completions = int((job.get("spec") or {}).get("completions") or 0)
    done = parse_indexes((job.get("status") or {}).get("completedIndexes", ""))
    done |= {i for p in pods if _phase(p) == "Succeeded" and (i := pod_index(p)) is not None}
    running = {pod_index(p) for p in active}
    return [i for i in range(completions) if i not in done and i not in running]


def indexed_pod(template: Obj, ref: Obj, ns: str, name: str, index: int) -> Obj:
    """A Pod of an Indexed Job: the index as annotation and label, JOB_COMPLETION_INDEX in
    every container, hostname `<job>-<index>`."""
    pod = w.new_pod(template, ref, ns, generate_name=f"{name}-{index}-",
                    labels={INDEX: str(index)}, annotations={INDEX: str(index)})
    spec = pod["spec"]
    spec.setdefault("hostname", f"{name}-{index}")
    env = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX}']"}}}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in c.get("env") or []):
            c["env"] = [*(c.get("env") or []), dict(env)]
    return pod


def last_failure(pods: list[Obj]) -> datetime | None:
    """When the last failed Pod ended."""
    times = []
    for pod in pods:
        if _phase(pod) != "Failed":
            continue
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            ts = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
            if ts:
                times.append(meta.parse_time(ts))
    return max(times) if times else None
