"""The resource metrics API `metrics.k8s.io/v1beta1`, as metrics-server serves it.

PodMetrics (list across or within a namespace, get by name) and NodeMetrics (the one node) are
built from the node's usage (NodeBackend.usage) and the Pods and Node in the store, so label and
field selectors apply to the objects' own labels and fields. Quantities are in metrics-server's
format: CPU in nanocores (`1234567n`, canonical), memory in BinarySI bytes (`10240Ki`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

from podhost.api import errors, meta, quantity, selectors
from podhost.api.nodeapi import NodeBackend, NodeUsage, PodUsage
from podhost.api.types import Obj
from podhost.apiserver.http import Request
from podhost.store.sqlite import Store

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PATH = re.compile(rf"^/apis/{re.escape(GROUP)}/{VERSION}"
                  r"(?:/namespaces/(?P<ns>[^/]+)(?=/pods))?/(?P<resource>pods|nodes)"
                  r"(?:/(?P<name>[^/]+))?/?$")
# resource, kind, namespaced
RESOURCES = [("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)]
VERBS = ["get", "list"]


# -- discovery -------------------------------------------------------------------------------
def api_group() -> Obj:
    """The APIGroup of legacy discovery (an item of /apis, and /apis/metrics.k8s.io)."""
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version],
            "preferredVersion": version}


def api_resource_list() -> Obj:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
            "resources": [{"name": name, "singularName": "", "namespaced": namespaced,
                           "kind": kind, "verbs": VERBS} for name, kind, namespaced in RESOURCES]}


def group_discovery() -> Obj:
    """The APIGroupDiscovery of aggregated discovery (apidiscovery.k8s.io/v2)."""
    resources = [{"resource": name, "responseKind": {"group": GROUP, "version": VERSION,
                                                    "kind": kind},
                  "scope": "Namespaced" if namespaced else "Cluster", "singularResource": "",
                  "verbs": VERBS} for name, kind, namespaced in RESOURCES]
    return {"metadata": {"name": GROUP, "creationTimestamp": None},
            "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}]}


# -- quantities and times --------------------------------------------------------------------
def cpu_quantity(nanocores: int) -> str:
    return quantity.canonical(f"{max(nanocores, 0)}n")


def memory_quantity(size: int) -> str:
    size = max(size, 0)
    return quantity.canonical(f"{size // 1024}Ki") if size % 1024 == 0 else str(size)


def go_duration(seconds: float) -> str:
    """metav1.Duration as Go prints it: `1.002s`, `15s`, `1m0.5s`, `0s`."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    minutes, nanos = divmod(nanos, 60 * 10**9)
    hours, minutes = divmod(minutes, 60)
    secs = f"{nanos // 10**9}.{nanos % 10**9:09d}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + secs


def timestamp(seconds: float) -> str:
    return meta.rfc3339(datetime.fromtimestamp(int(seconds), timezone.utc))


# -- objects ---------------------------------------------------------------------------------
def _metadata(obj: Obj) -> Obj:
    m = obj.get("metadata") or {}
    out: Obj = {"name": m["name"]}
    if m.get("namespace"):
        out["namespace"] = m["namespace"]
    out["creationTimestamp"] = meta.rfc3339()
    if m.get("labels"):
        out["labels"] = dict(m["labels"])
    return out


def _usage(cpu_nanocores: int, memory_bytes: int) -> Obj:
    return {"cpu": cpu_quantity(cpu_nanocores), "memory": memory_quantity(memory_bytes)}


def pod_metrics(pod: Obj, usage: PodUsage) -> Obj:
    """PodMetrics of a Pod from the store and its measured usage."""
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, "metadata": _metadata(pod),
            "timestamp": timestamp(usage.timestamp), "window": go_duration(usage.window),
            "containers": [{"name": c.name, "usage": _usage(c.cpu_nanocores, c.memory_bytes)}
                           for c in usage.containers]}


def node_metrics(node: Obj, usage: NodeUsage) -> Obj:
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, "metadata": _metadata(node),
            "timestamp": timestamp(usage.timestamp), "window": go_duration(usage.window),
            "usage": _usage(usage.cpu_nanocores, usage.memory_bytes)}


def metrics_list(kind: str, items: list[Obj]) -> Obj:
    return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


def not_found(resource: str, name: str) -> errors.NotFoundError:
    singular = KINDS[resource][0].lower()
    return errors.NotFoundError(f'{singular}.{GROUP} "{name}" not found', kind=resource,
                                name=name, details={"group": GROUP})


def select_pods(store: Store, usage: NodeUsage, request: Request, ns: str | None,
                name: str | None, node_name: str) -> list[Obj]:
    """PodMetrics of the Pods in scope that match the selectors and have usage."""
    match = selectors.matcher(request.arg("labelSelector"), request.arg("fieldSelector"))
    measured = {(p.namespace, p.name): p for p in usage.pods}
    pods = [store.get("pods", ns or "", name)] if name else store.list("pods", ns)[0]
    return [pod_metrics(pod, measured[key]) for pod in pods
            if (key := (pod["metadata"].get("namespace", ""), pod["metadata"]["name"]))
            in measured and match(pod)]


def select_nodes(store: Store, usage: NodeUsage, request: Request, ns: str | None,
                 name: str | None, node_name: str) -> list[Obj]:
    match = selectors.matcher(request.arg("labelSelector"), request.arg("fieldSelector"))
    node = store.get("nodes", "", node_name)
    return [node_metrics(node, usage)] if match(node) and name in (None, node_name) else []


Select = Callable[[Store, NodeUsage, Request, str | None, str | None, str], list[Obj]]
# each metrics.k8s.io resource: its kind, and how its items are selected
KINDS: dict[str, tuple[str, Select]] = {"pods": ("PodMetrics", select_pods),
                                        "nodes": ("NodeMetrics", select_nodes)}


async def handle(store: Store, node: NodeBackend, request: Request,
                 node_name: str) -> Obj | None:
    """The response object for a metrics.k8s.io path, or None when the path is not one."""
    path = request.path.rstrip("/")
    if path == f"/apis/{GROUP}":
        return api_group()
    if path == f"/apis/{GROUP_VERSION}":
        return api_resource_list()
    m = PATH.match(request.path)
    if m is None:
        return None
    if request.method != "GET":
        raise errors.MethodNotAllowedError(
            "the server does not allow this method on the requested resource")
    ns, resource, name = m.group("ns", "resource", "name")
    usage = await node.usage()
    try:
        items = KINDS[resource][1](store, usage, request, ns, name, node_name)
    except errors.NotFoundError:
        items = []
    if name is None:
        return metrics_list(KINDS[resource][0], items)
    if not items:
        raise not_found(resource, name)
    return items[0]
