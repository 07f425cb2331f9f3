"""NetworkPolicies (pkg/registry/networking/networkpolicy): defaults, generation, validation
(api/networkpolicy.py) and kubectl's columns. The node enforces them (node/policies.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import networkpolicy
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class NetworkPolicyStrategy(Strategy):
    columns = networkpolicy.COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        networkpolicy.prepare_create(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        networkpolicy.prepare_update(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return networkpolicy.spec_errors(obj.get("spec") or {})

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return networkpolicy.validate_update(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return networkpolicy.cells(obj, now)


strategy = NetworkPolicyStrategy()
