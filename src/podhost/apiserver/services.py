"""Service admission as kube-apiserver's Service registry does it: validation, then a ClusterIP
from the service range and NodePorts from 30000-32767, refused in the allocators' words when
an asked-for one is outside its range or taken. Nothing is stored when anything fails.

The range is the ServiceCIDR object `kubernetes` the node keeps in the store (written at start
from `--service-cidr`, as kube-apiserver 1.33 keeps its default ServiceCIDR); allocations are
the addresses and ports held by the stored Services, so a deleted Service frees its own.
"""

from __future__ import annotations

import ipaddress
import random

from podhost.api import errors, service
from podhost.api.types import Obj
from podhost.store.sqlite import Store

SERVICE_CIDRS = "servicecidrs"  # store key of the range object (not served)
DEFAULT_CIDR_NAME = "kubernetes"
_rng = random.SystemRandom()


def service_cidr_object(cidr: str) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": DEFAULT_CIDR_NAME}, "spec": {"cidrs": [cidr]}}


def service_cidr(store: Store) -> ipaddress.IPv4Network:
    try:
        obj = store.get(SERVICE_CIDRS, "", DEFAULT_CIDR_NAME)
        return service.parse_cidr(obj["spec"]["cidrs"][0])
    except (errors.NotFoundError, KeyError, IndexError, ValueError):
        return service.parse_cidr(service.DEFAULT_SERVICE_CIDR)


ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def validate_slice(es: Obj) -> None:
    """ValidateEndpointSlice: the checks a hand-written slice meets first."""
    name = (es.get("metadata") or {}).get("name", "")
    errs = []
    if not name:
        errs.append(errors.required("metadata.name", "name or generateName is required"))
    kind = es.get("addressType")
    if not kind:
        errs.append(errors.required("addressType"))
    elif kind not in ADDRESS_TYPES:
        errs.append(errors.not_supported("addressType", kind, ADDRESS_TYPES))
    for i, ep in enumerate(es.get("endpoints") or []):
        addresses = ep.get("addresses") or []
        if not addresses:
            errs.append(errors.required(f"endpoints[{i}].addresses",
                                        "must contain at least 1 address"))
        for j, address in enumerate(addresses):
            try:
                parsed = ipaddress.ip_address(address)
            except ValueError:
                parsed = None
            if kind in ("IPv4", "IPv6") and (parsed is None or f"IPv{parsed.version}" != kind):
                errs.append(errors.invalid(f"endpoints[{i}].addresses[{j}]", address,
                                           f"must be a valid {kind} address"))
    for i, port in enumerate(es.get("ports") or []):
        number = port.get("port")
        if number is not None and not (isinstance(number, int) and 1 <= number <= 65535):
            errs.append(errors.invalid(f"ports[{i}].port", number,
                                       "must be between 1 and 65535, inclusive"))
    if errs:
        raise errors.InvalidError("EndpointSlice", name, errs)


def admit(store: Store, svc: Obj, old: Obj | None, rng: random.Random = _rng) -> None:
    """Validate `svc` and give it its addresses (in place); InvalidError otherwise."""
    name = (svc.get("metadata") or {}).get("name", "")
    if old is not None:
        service.normalize_update(svc, old)
    errs = service.validate_service(svc) if old is None else \
        service.validate_service_update(svc, old)
    if errs:
        raise errors.InvalidError("Service", name, errs)
    items, _ = store.list("services")
    ips, ports = service.used_addresses(items, skip=old)
    errs = service.assign(svc, old, service_cidr(store), ips, ports, rng)
    if errs:
        raise errors.InvalidError("Service", name, errs)
