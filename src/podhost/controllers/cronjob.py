"""The CronJob controller (pkg/controller/cronjob, v2): at each activation of the schedule (in
`spec.timeZone`, else the node's local time) a Job `<cronjob>-<minutes since the epoch>` from
the jobTemplate; concurrencyPolicy Allow/Forbid/Replace; startingDeadlineSeconds; suspend;
missed activations after the node was down run once (the latest, unless too late); finished
Jobs beyond successfulJobsHistoryLimit/failedJobsHistoryLimit deleted; status active,
lastScheduleTime and lastSuccessfulTime."""

from __future__ import annotations

import copy
import zoneinfo
from datetime import datetime, timedelta, tzinfo

from podhost.api import cron, meta
from podhost.api.types import Obj
from podhost.controllers import events
from podhost.controllers import jobutil as ju
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch

KIND, API_VERSION = "CronJob", "batch/v1"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def zone_of(cj: Obj) -> tzinfo:
    name = (cj.get("spec") or {}).get("timeZone")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else zoneinfo.ZoneInfo("UTC")


def job_from(cj: Obj, scheduled: datetime) -> Obj:
    """getJobFromTemplate2: the Job for one activation."""
    template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tm = template.get("metadata") or {}
    name = f"{cj['metadata']['name']}-{int(scheduled.timestamp()) // 60}"
    job: Obj = {"apiVersion": API_VERSION, "kind": "Job", "metadata": {
        "name": name, "labels": dict(tm.get("labels") or {}),
        "annotations": {**(tm.get("annotations") or {}),
                        SCHEDULED: scheduled.isoformat(timespec="seconds")},
        "ownerReferences": [w.controller_of(cj, KIND, API_VERSION)]},
        "spec": copy.deepcopy(template.get("spec") or {})}
    job["metadata"]["namespace"] = cj["metadata"]["namespace"]
    return job


def _reference(job: Obj) -> Obj:
    m = job["metadata"]
    return {"kind": "Job", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"],
            "apiVersion": API_VERSION, "resourceVersion": m.get("resourceVersion", "")}


class CronJobController(Controller):
    name = "cronjob-controller"

    def watches(self) -> list[Watch]:
        return [Watch("cronjobs", w.own_key), Watch("jobs", w.owner_keys(KIND))]

    def reconcile(self, key: str) -> float | None:
        cj = w.get(self.store, "cronjobs", key)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return None
        jobs = w.owned(self.store, "jobs", cj)
        status = copy.deepcopy(cj.get("status") or {})
        active = [j for j in jobs if not ju.finished(j) and not j["metadata"].get(
            "deletionTimestamp")]
        done = [t for j in jobs if w.has_condition(j, "Complete")
                and (t := (j.get("status") or {}).get("completionTime"))]
        if done:
            status["lastSuccessfulTime"] = max([*done, status.get("lastSuccessfulTime", "")])
        self.cleanup(cj, jobs)
        again = None
        if not (cj.get("spec") or {}).get("suspend"):
            again = self.schedule(cj, active, status)
        if active:
            status["active"] = [_reference(j) for j in active]
        else:
            status.pop("active", None)
        w.write_status(self.store, "cronjobs", cj, status)
        return again

    def schedule(self, cj: Obj, active: list[Obj], status: Obj) -> float | None:
        """Start the Job of the latest missed activation, if any; seconds to the next one."""
        spec = cj.get("spec") or {}
        try:
            sched = cron.parse(str(spec.get("schedule", "")))
        except cron.CronError:
            return None
        zone = zone_of(cj)
        now = meta.now().astimezone(zone)
        since = status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"]
        earliest = meta.parse_time(since).astimezone(zone)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - timedelta(seconds=int(deadline)))
        if sched.next(earliest) is None:  # never (Feb 31): the controller's warning
            events.record(self.store, self.name, cj, "InvalidSchedule",
                          f"invalid schedule: {spec.get('schedule')} : time difference "
                          "between two schedules is less than 1 second", kind="Warning")
            return None
        scheduled, _ = cron.most_recent(sched, earliest, now)
        if scheduled is not None:
            self._start(cj, scheduled, active, status)
        upcoming = sched.next(now)
        return None if upcoming is None else max(0.05, (upcoming - now).total_seconds())

    def _start(self, cj: Obj, scheduled: datetime, active: list[Obj], status: Obj) -> None:
        policy = (cj.get("spec") or {}).get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            return  # the next activation looks again
        if policy == "Replace":
            for job in active:
                w.delete(self.store, "jobs", job, policy="Background")
            active.clear()
        created = w.create(self.store, "jobs", job_from(cj, scheduled))
        if created is not None:
            active.append(created)
            events.record(self.store, self.name, cj, "SuccessfulCreate",
                          f"Created job {created['metadata']['name']}")
        status["lastScheduleTime"] = meta.rfc3339(scheduled.astimezone(
            zoneinfo.ZoneInfo("UTC")))

    def cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Finished Jobs beyond the history limits, oldest first."""
        spec = cj.get("spec") or {}
        for kind, key in (("Complete", "successfulJobsHistoryLimit"),
                          ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(key)
            if limit is None:
                continue
            ended = sorted((j for j in jobs if w.has_condition(j, kind)
                            and not j["metadata"].get("deletionTimestamp")),
                           key=lambda j: (j.get("status") or {}).get("startTime") or
                           j["metadata"].get("creationTimestamp", ""))
            for job in ended[:max(0, len(ended) - int(limit))]:
                w.delete(self.store, "jobs", job, policy="Background")
                events.record(self.store, self.name, cj, "SuccessfulDelete",
                              f"Deleted job {job['metadata']['name']}")
