"""The Services whose backend is the node itself, kept as kube-apiserver keeps `kubernetes`:
`default/kubernetes` (the API server) and `kube-system/kube-dns` (the cluster DNS), each with
one EndpointSlice and an Endpoints object, written again at every start (the address or port
may have changed)."""

from __future__ import annotations

import contextlib

from podhost.api import endpoints, errors
from podhost.api.types import Obj
from podhost.registry.client import Client

MANAGED_BY = "podhost"


def _put(store: Client, resource: str, obj: Obj) -> Obj:
    m = obj["metadata"]
    ns = m.get("namespace", "")
    try:
        old = store.get(resource, ns, m["name"])
    except errors.NotFoundError:
        m["namespace"] = ns
        return store.create(resource, obj)
    for key in ("uid", "creationTimestamp", "resourceVersion"):
        if key in old["metadata"]:
            m[key] = old["metadata"][key]
    return store.update(resource, obj)


def ensure(store: Client, svc: Obj, address: str, ports: list[Obj]) -> Obj:
    """Write `svc` (keeping its identity) and point its slice and Endpoints at `address`.
    A ClusterIP held by a user's Service of another name is left to it (logged by the
    caller through the error)."""
    m = svc["metadata"]
    items, _ = store.list("services")
    ip = svc["spec"]["clusterIP"]
    for other in items:
        if ip in ((other.get("spec") or {}).get("clusterIPs") or []) and \
                (other["metadata"].get("namespace"), other["metadata"]["name"]) != \
                (m["namespace"], m["name"]):
            raise errors.ConflictError(f"the ClusterIP {ip} is held by Service "
                                       f"{other['metadata'].get('namespace')}/"
                                       f"{other['metadata']['name']}")
    svc = _put(store, "services", svc)
    _put(store, "endpointslices", endpoints.fixed_slice(svc, address, ports, MANAGED_BY))
    ep = {"apiVersion": "v1", "kind": "Endpoints",
          "metadata": {"name": m["name"], "namespace": m["namespace"],
                       "labels": {endpoints.SERVICE_NAME_LABEL: m["name"]}},
          "subsets": [{"addresses": [{"ip": address}], "ports": ports}]}
    with contextlib.suppress(errors.ApiError):
        _put(store, "endpoints", ep)
    return svc
