"""`kubectl get` columns of apps/v1 and batch/v1 workloads, as the API server's table printers
(pkg/printers/internalversion: printDeployment, printReplicaSet, printStatefulSet,
printDaemonSet, printJob, printCronJob, printControllerRevision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import meta
from podhost.api.columns import AGE, NAME, Column, since
from podhost.api.types import Obj
from podhost.api.workloads import selector_string

CONTAINERS: Column = ("Containers", "string", "", 1, "Names of each container in the template.")
IMAGES: Column = ("Images", "string", "", 1, "Images referenced by each container in the "
                  "template.")
SELECTOR: Column = ("Selector", "string", "", 1, "Label selector for pods. Existing "
                    "ReplicaSets whose pods are selected by this will be the ones affected by "
                    "this deployment.")


def _int(name: str, description: str) -> Column:
    return (name, "integer", "", 0, description)


DEPLOYMENT_COLUMNS = [
    NAME, ("Ready", "string", "", 0, "Number of the pod with ready state"),
    ("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this "
     "deployment that have the desired template spec."),
    ("Available", "string", "", 0, "Total number of available pods (ready for at least "
     "minReadySeconds) targeted by this deployment."),
    AGE, CONTAINERS, IMAGES, SELECTOR]
REPLICASET_COLUMNS = [
    NAME, _int("Desired", "Number of desired pods."),
    _int("Current", "Number of actual running pods."),
    _int("Ready", "Number of ready pods."), AGE, CONTAINERS, IMAGES, SELECTOR]
STATEFULSET_COLUMNS = [
    NAME, ("Ready", "string", "", 0, "Number of the pod with ready state"), AGE, CONTAINERS,
    IMAGES]
DAEMONSET_COLUMNS = [
    NAME, _int("Desired", "The total number of nodes that should be running the daemon pod."),
    _int("Current", "The number of nodes that are running at least 1 daemon pod and are "
         "supposed to run the daemon pod."),
    _int("Ready", "The number of nodes that should be running the daemon pod and have one or "
         "more of the daemon pod running and ready."),
    _int("Up-to-date", "The total number of nodes that are running updated daemon pod"),
    _int("Available", "The number of nodes that should be running the daemon pod and have one "
         "or more of the daemon pod running and available (ready for at least "
         "spec.minReadySeconds)"),
    ("Node Selector", "string", "", 0, "NodeSelector is a selector which must be true for the "
     "pod to fit on a node."), AGE, CONTAINERS, IMAGES, SELECTOR]
JOB_COLUMNS = [
    NAME, ("Status", "string", "", 0, "Status of the job."),
    ("Completions", "string", "", 0, "The completion status of the job."),
    ("Duration", "string", "", 0, "Time required to complete the job."),
    AGE, CONTAINERS, IMAGES, SELECTOR]
CRONJOB_COLUMNS = [
    NAME, ("Schedule", "string", "", 0, "The schedule in Cron format, see "
           "https://en.wikipedia.org/wiki/Cron."),
    ("Timezone", "string", "", 0, "The time zone name for the given schedule."),
    ("Suspend", "boolean", "", 0, "This flag tells the controller to suspend subsequent "
     "executions, it does not apply to already started executions.  Defaults to false."),
    _int("Active", "A list of pointers to currently running jobs."),
    ("Last Schedule", "string", "", 0, "Information when was the last time the job was "
     "successfully scheduled."), AGE, CONTAINERS, IMAGES, SELECTOR]
CONTROLLERREVISION_COLUMNS = [
    NAME, ("Controller", "string", "", 0, "Controller of the object"),
    _int("Revision", "Revision of the ControllerRevision"), AGE]


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}




def _created(o: Obj, now: datetime) -> str:
    return since(o["metadata"].get("creationTimestamp"), now, "<none>")


def _template(o: Obj, job: bool = False) -> tuple[str, str]:
    spec = _d(o.get("spec"))
    if job:
        spec = _d(_d(spec.get("jobTemplate")).get("spec"))
    containers = _d(_d(spec.get("template")).get("spec")).get("containers") or []
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


def _selector(spec: Obj) -> str:
    return selector_string(spec.get("selector")) or "<none>"


def deployment_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            _created(o, now), *_template(o),
            _selector(spec)]


def replicaset_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    return [o["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0),
            st.get("readyReplicas", 0), _created(o, now),
            *_template(o), _selector(spec)]


def statefulset_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            _created(o, now), *_template(o)]


def daemonset_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    selector = _d(_d(spec.get("template")).get("spec")).get("nodeSelector") or {}
    node_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"
    return [o["metadata"]["name"], st.get("desiredNumberScheduled", 0),
            st.get("currentNumberScheduled", 0), st.get("numberReady", 0),
            st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0), node_selector,
            _created(o, now), *_template(o),
            _selector(spec)]


def _has(st: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in st.get("conditions") or [])


def job_status_text(o: Obj) -> str:
    st = _d(o.get("status"))
    for kind, text in (("Complete", "Complete"), ("Failed", "Failed")):
        if _has(st, kind):
            return text
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has(st, kind):
            return kind
    return "Running"


def job_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    succeeded = st.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    duration = ""
    if st.get("startTime"):
        start = meta.parse_time(st["startTime"])
        end = meta.parse_time(st["completionTime"]) if st.get("completionTime") else now
        duration = meta.human_age((end - start).total_seconds())
    return [o["metadata"]["name"], job_status_text(o), completions, duration,
            _created(o, now), *_template(o),
            _selector(spec)]


def cronjob_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = _d(o.get("spec")), _d(o.get("status"))
    return [o["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") else "False", len(st.get("active") or []),
            since(st.get("lastScheduleTime"), now, "<none>"),
            _created(o, now), *_template(o, job=True),
            _selector(_d(_d(spec.get("jobTemplate")).get("spec")))]


def controllerrevision_cells(o: Obj, now: datetime) -> list[Any]:
    owner = next((r for r in o["metadata"].get("ownerReferences") or []
                  if r.get("controller")), None)
    controller = "<none>"
    if owner:
        group = str(owner.get("apiVersion", "")).rpartition("/")[0]
        kind = str(owner.get("kind", "")).lower()
        controller = f"{kind}.{group}/{owner.get('name')}" if group else \
            f"{kind}/{owner.get('name')}"
    return [o["metadata"]["name"], controller, o.get("revision", 0),
            _created(o, now)]


