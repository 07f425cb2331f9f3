"""Services (pkg/registry/core/service): defaults, ValidateService, and admission as
kube-apiserver's Service registry does it: validation, then a ClusterIP
from the service range and NodePorts from 30000-32767, refused in the allocators' words when
an asked-for one is outside its range or taken. Nothing is stored when anything fails.

The range is the ServiceCIDR object `kubernetes` the node keeps in the store (written at start
from `--service-cidr`, as kube-apiserver 1.33 keeps its default ServiceCIDR); allocations are
the addresses and ports held by the stored Services, so a deleted Service frees its own.
"""

from __future__ import annotations

import ipaddress
import random
from datetime import datetime
from typing import Any

from podhost.api import errors, service, servicetable
from podhost.api.errors import FieldError
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy

SERVICE_CIDRS = "servicecidrs"  # store key of the range object (not served)
DEFAULT_CIDR_NAME = "kubernetes"
_rng = random.SystemRandom()


def service_cidr_object(cidr: str) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": DEFAULT_CIDR_NAME}, "spec": {"cidrs": [cidr]}}


def service_cidr(store: ObjectStore) -> ipaddress.IPv4Network:
    try:
        obj = store.get(SERVICE_CIDRS, "", DEFAULT_CIDR_NAME)
        return service.parse_cidr(obj["spec"]["cidrs"][0])
    except (errors.NotFoundError, KeyError, IndexError, ValueError):
        return service.parse_cidr(service.DEFAULT_SERVICE_CIDR)


def admit(store: ObjectStore, svc: Obj, old: Obj | None, rng: random.Random = _rng) -> None:
    """Give `svc` its addresses (in place); InvalidError when one is refused."""
    name = (svc.get("metadata") or {}).get("name", "")
    items, _ = store.list("services")
    ips, ports = service.used_addresses(items, skip=old)
    errs = service.assign(svc, old, service_cidr(store), ips, ports, rng)
    if errs:
        raise errors.InvalidError("Service", name, errs)


def _dns1035(name: str, prefix: bool) -> list[str]:
    """NameIsDNS1035Label."""
    return service.dns1035_label_errors(name[:-1] + "a" if prefix and name.endswith("-")
                                        else name)


class ServiceStrategy(Strategy):
    name_fn = staticmethod(_dns1035)
    columns = servicetable.SERVICE_COLUMNS

    def initial_status(self, obj: Obj) -> Obj:
        return {"loadBalancer": {}}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        service.default_service(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        service.default_service(new)
        service.normalize_update(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return service.validate_service(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return service.validate_service_update(new, old)

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        admit(ctx.store, obj, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return servicetable.service_cells(obj, now)


strategy = ServiceStrategy()
