"""APIServices: read-only (the aggregation layer is not served: nothing to proxy to), the
local group versions made at start, with their status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import apiservices, objectmeta
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


def name_errors(name: str, prefix: bool) -> list[str]:
    """ValidateAPIServiceName: `<version>.<group>`, the legacy group's `v1.` included."""
    version, _, group = name.partition(".")
    return objectmeta.dns_subdomain(version + ("." + group if group else ""), prefix)


class APIServiceStrategy(Strategy):
    columns = apiservices.COLUMNS
    name_fn = staticmethod(name_errors)

    def prepare_for_create(self, obj: Obj) -> None:
        """The status the autoregister controller gives a local group version is kept."""

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return apiservices.cells(obj, now)


strategy = APIServiceStrategy()
