"""Events the controllers record, as client-go's recorder writes them for
kube-controller-manager: `<object>.<hex nanoseconds>`, source component the controller's name
(SuccessfulCreate, SuccessfulDelete, ScalingReplicaSet, Completed, BackoffLimitExceeded, ...).
A failed write is logged and forgotten, as the recorder's are."""

from __future__ import annotations

import logging
import time

from podhost.api import errors, meta, registry
from podhost.api.types import Obj
from podhost.registry.client import Client

log = logging.getLogger(__name__)


def record(store: Client, component: str, obj: Obj, reason: str, message: str,
           kind: str = "Normal") -> None:
    m = obj["metadata"]
    served = registry.by_kind(obj.get("kind", "")) if obj.get("kind") else None
    now = meta.rfc3339()
    event: Obj = {"apiVersion": "v1", "kind": "Event", "metadata": {
        "name": f"{m['name']}.{time.time_ns():x}"},
        "involvedObject": {"kind": obj.get("kind", ""), "namespace": m.get("namespace", ""),
                           "name": m["name"], "uid": m.get("uid", ""),
                           "apiVersion": served.api_version if served else
                           obj.get("apiVersion", ""),
                           "resourceVersion": m.get("resourceVersion", "")},
        "reason": reason, "message": message, "source": {"component": component},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": kind,
        "eventTime": None, "reportingComponent": component, "reportingInstance": ""}
    try:
        event["metadata"]["namespace"] = m.get("namespace") or "default"
        store.create("events", event)
    except errors.ApiError as e:
        log.debug("event %s of %s not recorded: %s", reason, m["name"], e)
