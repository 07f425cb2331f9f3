"""metav1.Table rendering for `kubectl get`, with the cells the real API server prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import meta

Obj = dict[str, Any]

POD_COLUMNS = [
    ("Name", "string", "name", 0,
     "Name must be unique within a namespace. Is required when creating resources, although some "
     "resources may allow a client to request the generation of an appropriate name automatically."),
    ("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", "", 0,
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted."),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when "
     "this object was created."),
    ("IP", "string", "", 1, "The IP address assigned to the pod"),
    ("Node", "string", "", 1, "The name of the node which the pod is scheduled on"),
    ("Nominated Node", "string", "", 1,
     "The name of the node which the pod is nominated to run on."),
    ("Readiness Gates", "string", "", 1, "The readiness gates of the pod"),
]

DEFAULT_COLUMNS = [
    POD_COLUMNS[0],
    ("Age", "string", "", 0, POD_COLUMNS[4][4]),
]


def column_definitions(columns: list[tuple[str, str, str, int, str]]) -> list[Obj]:
    return [{"name": n, "type": t, "format": f, "description": d, "priority": p}
            for n, t, f, p, d in columns]


def _age(obj: Obj, now: datetime) -> str:
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    return meta.human_age((now - meta.parse_time(ts)).total_seconds())


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def _terminated_reason(term: Obj, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _restartable(spec: Obj, name: str) -> bool:
    for c in spec.get("initContainers") or []:
        if c.get("name") == name:
            return c.get("restartPolicy") == "Always"
    return False


def _condition_true(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in status.get("conditions") or [])


def pod_cells(pod: Obj, now: datetime) -> list[Any]:
    """printPod from kubernetes/pkg/printers/internalversion, cell for cell."""
    spec, status = pod.get("spec", {}), pod.get("status", {})
    total = len(spec.get("containers") or [])
    total += sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    ready = 0
    restarts = 0
    last_restart: datetime | None = None
    reason = status.get("reason") or status.get("phase") or ""
    initializing = False
    sidecar_restarts = 0
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, cs)
        if _restartable(spec, cs.get("name", "")):
            sidecar_restarts += cs.get("restartCount", 0)
        state = cs.get("state", {})
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if _restartable(spec, cs.get("name", "")) and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    if not initializing or _condition_true(status, "Initialized"):
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, cs)
            state = cs.get("state", {})
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated"):
                reason = _terminated_reason(state["terminated"])
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp") and status.get("phase") not in (
            "Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({meta.human_age((now - last_restart).total_seconds())} ago)"
    ips = status.get("podIPs") or []
    ip = ips[0].get("ip") if ips else status.get("podIP")
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        true_types = {c.get("type") for c in status.get("conditions") or []
                      if c.get("status") == "True"}
        gates_text = f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"
    return [pod["metadata"]["name"], f"{ready}/{total}", reason, restarts_text, _age(pod, now),
            ip or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]


def _later(current: datetime | None, cs: Obj) -> datetime | None:
    finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
    if not finished:
        return current
    t = meta.parse_time(finished)
    return t if current is None or t > current else current


def to_table(resource: str, objects: list[Obj], rv: str | int | None,
             include_columns: bool = True) -> Obj:
    """A Table for a list (or one object) of `resource`."""
    now = meta.now()
    if resource == "pods":
        columns, cells = POD_COLUMNS, [pod_cells(o, now) for o in objects]
    else:
        columns = DEFAULT_COLUMNS
        cells = [[o["metadata"]["name"], _age(o, now)] for o in objects]
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"resourceVersion": str(rv)} if rv is not None else {}}
    if include_columns:
        table["columnDefinitions"] = column_definitions(columns)
    table["rows"] = [{"cells": c, "object": _partial(o)} for c, o in zip(cells, objects)]
    return table
