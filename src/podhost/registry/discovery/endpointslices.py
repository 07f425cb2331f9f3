"""EndpointSlices (pkg/registry/discovery/endpointslice): address types, addresses of their
type, ports in range; kubectl's columns."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from podhost.api import errors, servicetable
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def slice_errors(es: Obj) -> list[FieldError]:
    """ValidateEndpointSlice: the checks a hand-written slice meets first."""
    errs: list[FieldError] = []
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
    return errs


class EndpointSliceStrategy(Strategy):
    columns = servicetable.ENDPOINTSLICE_COLUMNS

    def validate(self, obj: Obj) -> list[FieldError]:
        return slice_errors(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return servicetable.endpointslice_cells(obj, now)


strategy = EndpointSliceStrategy()
