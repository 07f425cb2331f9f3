"""The EndpointSlice controller (and the Endpoints controller beside it), as
kube-controller-manager runs them: every Service with a selector gets EndpointSlices labelled
`kubernetes.io/service-name`, listing the Pods it selects with their ready / serving /
terminating conditions and the ports their (named) targetPorts resolve to, and a core/v1
Endpoints object of the same name. Slices of deleted Services go (their owner references would
have the garbage collector remove them). Selector-less Services are left to their users.

A LoadBalancer Service gets the node's address in `status.loadBalancer.ingress`, as k3s's
ServiceLB does (the NodePorts are served on every local address).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from podhost.api import endpoints, errors
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client
from podhost.store.watch import Event

MANAGED = endpoints.CONTROLLER_NAME


def _service_key(event: Event) -> Iterable[str]:
    m = event.object["metadata"]
    yield f"{m.get('namespace', '')}/{m['name']}"


def _slice_key(event: Event) -> Iterable[str]:
    m = event.object["metadata"]
    name = (m.get("labels") or {}).get(endpoints.SERVICE_NAME_LABEL)
    if name:
        yield f"{m.get('namespace', '')}/{name}"


def endpoints_object(svc: Obj, pods: list[Obj]) -> Obj:
    """The core/v1 Endpoints of `svc` (the endpoints controller): ready Pods in `addresses`,
    the others in `notReadyAddresses`, terminating Pods left out."""
    m = svc["metadata"]
    subsets = []
    for ports, eps in endpoints.desired_slices(svc, pods):
        ready: list[Obj] = []
        not_ready: list[Obj] = []
        for ep in eps:
            if ep["conditions"].get("terminating"):
                continue
            address = {"ip": ep["addresses"][0], "targetRef": ep["targetRef"]}
            if ep.get("nodeName"):
                address["nodeName"] = ep["nodeName"]
            if ep.get("hostname"):
                address["hostname"] = ep["hostname"]
            (ready if ep["conditions"].get("ready") else not_ready).append(address)
        if (ready or not_ready) and ports:
            subset: Obj = {"ports": ports}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            subsets.append(subset)
    obj: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": m["name"], "namespace": m.get("namespace", ""),
                             "labels": dict(m.get("labels") or {})}}
    if subsets:
        obj["subsets"] = subsets
    return obj


class EndpointSliceController(Controller):
    name = "endpointslice-controller"

    def __init__(self, store: ObjectStore | Client, node_address: str = "") -> None:
        super().__init__(store)
        self.node_address = node_address

    def watches(self) -> list[Watch]:
        return [Watch("services", _service_key), Watch("pods", self._pod_keys),
                Watch("endpointslices", _slice_key)]

    def _pod_keys(self, event: Event) -> Iterable[str]:
        """Every Service of the Pod's namespace (a label change may end a match)."""
        ns = event.object["metadata"].get("namespace", "")
        services, _ = self.store.list("services", ns)
        return [f"{ns}/{s['metadata']['name']}" for s in services]

    def reconcile(self, key: str) -> float | None:
        ns, name = key.split("/", 1)
        try:
            svc: Obj | None = self.store.get("services", ns, name)
        except errors.NotFoundError:
            svc = None
        current = self._managed_slices(ns, name)
        if svc is None or not (svc.get("spec") or {}).get("selector") or \
                (svc.get("spec") or {}).get("type") == "ExternalName":
            for es in current:
                with contextlib.suppress(errors.NotFoundError):
                    self.store.delete("endpointslices", ns, es["metadata"]["name"])
            if svc is None or (svc.get("spec") or {}).get("selector") is not None:
                with contextlib.suppress(errors.NotFoundError):
                    self.store.delete("endpoints", ns, name)
            return None
        pods, _ = self.store.list("pods", ns)
        self._sync_slices(svc, pods, current)
        self._write("endpoints", endpoints_object(svc, pods))
        self._load_balancer_status(svc)
        return None

    def _managed_slices(self, ns: str, service: str) -> list[Obj]:
        items, _ = self.store.list("endpointslices", ns)
        return [es for es in items
                if (es["metadata"].get("labels") or {}).get(endpoints.SERVICE_NAME_LABEL)
                == service and (es["metadata"].get("labels") or {})
                .get(endpoints.MANAGED_BY_LABEL) == MANAGED]

    def _sync_slices(self, svc: Obj, pods: list[Obj], current: list[Obj]) -> None:
        by_name = {es["metadata"]["name"]: es for es in current}
        wanted = endpoints.desired_slices(svc, pods)
        names = sorted(by_name)
        kept = set()
        for i, (ports, eps) in enumerate(wanted):
            name = names[i] if i < len(names) else endpoints.slice_name(svc, i)
            kept.add(name)
            self._write("endpointslices", endpoints.endpoint_slice(svc, name, ports, eps),
                        by_name.get(name))
        ns = svc["metadata"].get("namespace", "")
        for name in set(by_name) - kept:
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete("endpointslices", ns, name)

    def _write(self, resource: str, obj: Obj, existing: Obj | None = None) -> None:
        m = obj["metadata"]
        ns = m.get("namespace", "")
        if existing is None:
            try:
                existing = self.store.get(resource, ns, m["name"])
            except errors.NotFoundError:
                obj["metadata"]["namespace"] = ns
                self.store.create(resource, obj)
                return
        if _same(obj, existing):
            return
        for key in ("uid", "creationTimestamp", "resourceVersion", "generateName"):
            if key in existing["metadata"]:
                m[key] = existing["metadata"][key]
        self.store.update(resource, obj)

    def _load_balancer_status(self, svc: Obj) -> None:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer" or not self.node_address:
            return
        ingress = [{"ip": self.node_address, "ipMode": "VIP"}]
        status = svc.setdefault("status", {})
        if (status.get("loadBalancer") or {}).get("ingress") == ingress:
            return
        status["loadBalancer"] = {"ingress": ingress}
        with contextlib.suppress(errors.ConflictError, errors.NotFoundError):
            self.store.update("services", svc, expected_rv=svc["metadata"]["resourceVersion"])


def _same(new: Obj, old: Obj) -> bool:
    if new.get("kind") == "Endpoints":
        return bool(new.get("subsets") == old.get("subsets") and
                    new["metadata"].get("labels") == old["metadata"].get("labels"))
    return endpoints.same_content(new, old)
