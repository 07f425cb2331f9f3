"""metav1.Table rendering for `kubectl get`, with the cells the real API server prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from podhost.api import meta
from podhost.api.columns import Column, age, since
from podhost.api.types import Obj

POD_COLUMNS = [
    ("Name", "string", "name", 0,
     "Name must be unique within a namespace. Is required when creating resources, although "
     "some resources may allow a client to request the generation of an appropriate name "
     "automatically."),
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




def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def _terminated_reason(term: Obj, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _restartable(spec: Obj, name: str) -> bool:
    for c in spec.get("initContainers") or []:
        if c.get("name") == name:
            return bool(c.get("restartPolicy") == "Always")
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
    ips = status.get("podIPs") or []
    ip = ips[0].get("ip") if ips else status.get("podIP")
    return [pod["metadata"]["name"], f"{ready}/{total}", reason,
            _restarts_text(restarts, last_restart, now), age(pod, now), ip or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            _readiness_gates(spec, status)]


def _restarts_text(restarts: int, last_restart: datetime | None, now: datetime) -> str:
    """`3 (2m ago)`: the count, and how long ago the last restarted container finished."""
    if restarts and last_restart is not None:
        return f"{restarts} ({meta.human_age((now - last_restart).total_seconds())} ago)"
    return str(restarts)


def _readiness_gates(spec: Obj, status: Obj) -> str:
    """`1/2`: readiness gates whose condition is True, of all; `<none>` without gates."""
    gates = spec.get("readinessGates") or []
    if not gates:
        return "<none>"
    true_types = {c.get("type") for c in status.get("conditions") or []
                  if c.get("status") == "True"}
    return f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"


def _later(current: datetime | None, cs: Obj) -> datetime | None:
    finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
    if not finished:
        return current
    t = meta.parse_time(finished)
    return t if current is None or t > current else current


NAME_COLUMN = POD_COLUMNS[0]
AGE_COLUMN = DEFAULT_COLUMNS[1]

NODE_COLUMNS = [
    NAME_COLUMN,
    ("Status", "string", "", 0, "The status of the node"),
    ("Roles", "string", "", 0, "The roles of the node"),
    AGE_COLUMN,
    ("Version", "string", "", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", "", 1, "List of addresses reachable to the node. Queried from "
     "cloud provider, if available."),
    ("External-IP", "string", "", 1, "List of addresses reachable to the node. Queried from "
     "cloud provider, if available."),
    ("OS-Image", "string", "", 1, "OS Image reported by the node from /etc/os-release (e.g. "
     "Debian GNU/Linux 7 (wheezy))."),
    ("Kernel-Version", "string", "", 1, "Kernel Version reported by the node from 'uname -r' "
     "(e.g. 3.16.0-0.bpo.4-amd64)."),
    ("Container-Runtime", "string", "", 1, "ContainerRuntime Version reported by the node "
     "through runtime remote API (e.g. containerd://1.4.2)."),
]
CONFIGMAP_COLUMNS = [
    NAME_COLUMN,
    ("Data", "string", "", 0, "Data contains the configuration data. Each key must consist of "
     "alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use "
     "the BinaryData field. The keys stored in Data must not overlap with the keys in the "
     "BinaryData field, this is enforced during validation process."),
    AGE_COLUMN,
]
SECRET_COLUMNS = [
    NAME_COLUMN,
    ("Type", "string", "", 0, "Used to facilitate programmatic handling of secret data. More "
     "info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    ("Data", "string", "", 0, "Data contains the secret data. Each key must consist of "
     "alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a "
     "base64 encoded string, representing the arbitrary (possibly non-string) data value "
     "here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
    AGE_COLUMN,
]
NAMESPACE_COLUMNS = [
    NAME_COLUMN,
    ("Status", "string", "", 0, "The status of the namespace"),
    AGE_COLUMN,
]
SERVICEACCOUNT_COLUMNS = [
    NAME_COLUMN,
    ("Secrets", "string", "", 0, "Secrets is a list of the secrets in the same namespace that "
     "pods running using this ServiceAccount are allowed to use."),
    AGE_COLUMN,
]
EVENT_COLUMNS = [  # eventColumnDefinitions; the descriptions are v1.Event's swagger docs
    ("Last Seen", "string", "", 0,
     "The time at which the most recent occurrence of this event was recorded."),
    ("Type", "string", "", 0, "Type of this event (Normal, Warning), new types could be added "
     "in the future"),
    ("Reason", "string", "", 0, "This should be a short, machine understandable string that "
     "gives the reason for the transition into the object's current status."),
    ("Object", "string", "", 0, "The object that this event is about."),
    ("Subobject", "string", "", 1, "If referring to a piece of an object instead of an entire "
     "object, this string should contain a valid JSON/Go field access statement, such as "
     "desiredState.manifest.containers[2]. For example, if the object reference is to a "
     "container within a pod, this would take on a value like: \"spec.containers{name}\" "
     "(where \"name\" refers to the name of the container that triggered the event) or if no "
     "container name is specified \"spec.containers[2]\" (container with index 2 in this "
     "pod). This syntax is chosen only to have some well-defined way of referencing a part of "
     "an object."),
    ("Source", "string", "", 1, "The component reporting this event. Should be a short machine "
     "understandable string."),
    ("Message", "string", "", 0, "A human-readable description of the status of this "
     "operation."),
    ("First Seen", "string", "", 1, "The time at which the event was first recorded. (Time of "
     "server receipt is in TypeMeta.)"),
    ("Count", "string", "", 1, "The number of times this event has occurred."),
    ("Name", "string", "name", 1, NAME_COLUMN[4]),
]




def node_cells(node: Obj, now: datetime) -> list[Any]:
    """printNode: STATUS from the Ready condition, ROLES from node-role labels."""
    status = node.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    states = ["Unknown"]
    if ready is not None:
        states = ["Ready" if ready.get("status") == "True" else
                  "NotReady" if ready.get("status") == "False" else "Unknown"]
    if node.get("spec", {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    labels = node.get("metadata", {}).get("labels") or {}
    roles = {k.split("/", 1)[1] for k in labels
             if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    addresses = status.get("addresses") or []

    def address(kind: str) -> str:
        return next((a["address"] for a in addresses if a.get("type") == kind), "<none>")

    info = status.get("nodeInfo") or {}
    os_image = info.get("osImage") or "<unknown>"
    kernel = info.get("kernelVersion") or "<unknown>"
    runtime = info.get("containerRuntimeVersion") or "<unknown>"
    return [node["metadata"]["name"], ",".join(states), ",".join(sorted(roles)) or "<none>",
            age(node, now), info.get("kubeletVersion", ""), address("InternalIP"),
            address("ExternalIP"), os_image, kernel, runtime]


def event_cells(ev: Obj, now: datetime) -> list[Any]:
    """printEvent (wide, as the server always renders it)."""
    first = since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") \
        else since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1
    obj = ev.get("involvedObject") or {}
    kind = (obj.get("kind") or "").lower()
    target = f"{kind}/{obj['name']}" if obj.get("name") else kind
    source = ev.get("source") or {}  # formatEventSource
    src = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    if host:
        src = f"{src}, {host}"
    return [last, ev.get("type", ""), ev.get("reason", ""), target, obj.get("fieldPath", ""),
            src, (ev.get("message") or "").strip(), first, int(count),
            ev["metadata"]["name"]]


def simple_cells(o: Obj, now: datetime, *values: Any) -> list[Any]:
    """Name, the given cells, Age."""
    return [o["metadata"]["name"], *values, age(o, now)]


def configmap_cells(o: Obj, now: datetime) -> list[Any]:
    return simple_cells(o, now, len(o.get("data") or {}) + len(o.get("binaryData") or {}))


def secret_cells(o: Obj, now: datetime) -> list[Any]:
    return simple_cells(o, now, o.get("type", ""), len(o.get("data") or {}))


def namespace_cells(o: Obj, now: datetime) -> list[Any]:
    return simple_cells(o, now, o.get("status", {}).get("phase", ""))


def serviceaccount_cells(o: Obj, now: datetime) -> list[Any]:
    return simple_cells(o, now, len(o.get("secrets") or []))


def to_table(columns: Sequence[Column], render: Callable[[Obj, datetime], list[Any]],
             objects: list[Obj], rv: str | int | None, include_columns: bool = True,
             include_object: str | None = None) -> Obj:
    """A Table of `objects` in `columns` (cells from `render`); each row carries the object as
    `includeObject` asks: `Metadata` (the default, PartialObjectMetadata), `Object` or `None`."""
    now = meta.now()
    cells = [render(o, now) for o in objects]
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"resourceVersion": str(rv)} if rv is not None else {}}
    if include_columns:
        table["columnDefinitions"] = column_definitions(list(columns))
    table["rows"] = [_row(c, o, include_object or "Metadata") for c, o in zip(cells, objects)]
    return table


def _row(cells: list[Any], obj: Obj, include_object: str) -> Obj:
    if include_object == "None":
        return {"cells": cells}
    return {"cells": cells, "object": obj if include_object == "Object" else _partial(obj)}
