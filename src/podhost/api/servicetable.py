"""`kubectl get` columns of Services, Endpoints and EndpointSlices, as the API server's table
printers (pkg/printers/internalversion: printService, printEndpoints, printEndpointSlice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.types import Obj

SERVICE_COLUMNS: list[Column] = [
    NAME,
    ("Type", "string", "", 0, "type determines how the Service is exposed."),
    ("Cluster-IP", "string", "", 0, "clusterIP is the IP address of the service."),
    ("External-IP", "string", "", 0, "externalIPs is a list of IP addresses for which nodes "
     "in the cluster will also accept traffic for this service."),
    ("Port(s)", "string", "", 0, "The list of ports that are exposed by this service."),
    AGE,
    ("Selector", "string", "", 1, "Route service traffic to pods with label keys and values "
     "matching this selector."),
]
ENDPOINTS_COLUMNS: list[Column] = [
    NAME,
    ("Endpoints", "string", "", 0, "Endpoints is the list of endpoints of this resource."),
    AGE,
]
ENDPOINTSLICE_COLUMNS: list[Column] = [
    NAME,
    ("AddressType", "string", "", 0, "addressType specifies the type of address carried by "
     "this EndpointSlice."),
    ("Ports", "string", "", 0, "ports specifies the list of network ports exposed by each "
     "endpoint in this slice."),
    ("Endpoints", "string", "", 0, "endpoints is a list of unique endpoints in this slice."),
    AGE,
]




def _external_ip(svc: Obj) -> str:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") or ""
                   for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        found = [i for i in ingress if i] + external
        return ",".join(found) if found else "<pending>"
    return ",".join(external) if external else "<none>"


def _ports(svc: Obj) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            out.append(f"{p.get('port')}/{proto}")
    return ",".join(out) if out else "<none>"


def service_cells(svc: Obj, now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    selector = spec.get("selector") or {}
    return [svc["metadata"]["name"], spec.get("type") or "ClusterIP",
            spec.get("clusterIP") or "<none>", _external_ip(svc), _ports(svc), age(svc, now),
            ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"]


def _addresses(addresses: list[str], ports: list[Any]) -> str:
    """formatEndpoints: the first three address:port pairs, then how many more."""
    pairs = [f"{a}:{p}" if p else a for a in addresses for p in (ports or [None])]
    if not pairs:
        return "<none>"
    more = f" + {len(pairs) - 3} more..." if len(pairs) > 3 else ""
    return ",".join(pairs[:3]) + more


def endpoints_cells(ep: Obj, now: datetime) -> list[Any]:
    addresses, ports = [], []
    for subset in ep.get("subsets") or []:
        addresses += [a.get("ip", "") for a in subset.get("addresses") or []]
        ports += [p.get("port") for p in subset.get("ports") or []]
    return [ep["metadata"]["name"], _addresses(addresses, sorted(set(ports))), age(ep, now)]


def endpointslice_cells(es: Obj, now: datetime) -> list[Any]:
    ports = [p.get("port") for p in es.get("ports") or []]
    port_text = ",".join(str(p) if p else "<unset>" for p in ports) or "<unset>"
    addresses = [a for e in es.get("endpoints") or [] for a in e.get("addresses") or []]
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    endpoints = ",".join(addresses[:3]) + more if addresses else "<unset>"
    return [es["metadata"]["name"], es.get("addressType", ""), port_text, endpoints,
            age(es, now)]
