"""Events as kubelet records them: reason, message, count, source `kubelet` on this node."""

from __future__ import annotations

import logging
import time
from typing import Any

from podhost.api import errors, meta
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Recorder:
    def __init__(self, store: Store, node_name: str, component: str = "kubelet") -> None:
        self.store, self.node_name, self.component = store, node_name, component

    def event(self, pod: Obj, kind: str, reason: str, message: str,
              field_path: str | None = None, component: str | None = None) -> None:
        m = pod["metadata"]
        now = meta.rfc3339()
        involved: Obj = {"kind": "Pod", "namespace": m.get("namespace"), "name": m["name"],
                         "uid": m.get("uid"), "apiVersion": "v1",
                         "resourceVersion": m.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        event: Obj = {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{m['name']}.{time.time_ns():x}",
                         "namespace": m.get("namespace"), "creationTimestamp": now,
                         "uid": meta.new_uid()},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component or self.component, "host": self.node_name},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": kind,
            "eventTime": None, "reportingComponent": component or self.component,
            "reportingInstance": self.node_name}
        try:
            self.store.create("events", event)
        except errors.ApiError:
            log.warning("could not record event %s for %s", reason, m["name"])

    def normal(self, pod: Obj, reason: str, message: str, field_path: str | None = None) -> None:
        self.event(pod, "Normal", reason, message, field_path)

    def warning(self, pod: Obj, reason: str, message: str, field_path: str | None = None) -> None:
        self.event(pod, "Warning", reason, message, field_path)


def container_field_path(name: str, init: bool) -> str:
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"
