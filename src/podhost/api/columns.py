"""What every `kubectl get` table shares: the column tuple, the Name and Age columns, and ages
as the API server's printers write them (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import meta
from podhost.api.types import Obj

Column = tuple[str, str, str, int, str]  # name, type, format, priority, description
NAME: Column = ("Name", "string", "name", 0, "Name must be unique within a namespace. Is "
                "required when creating resources, although some resources may allow a client "
                "to request the generation of an appropriate name automatically. Name is "
                "primarily intended for creation idempotence and configuration definition. "
                "Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/"
                "working-with-objects/names#names")
AGE: Column = ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the "
               "server time when this object was created.")


def since(ts: Any, now: datetime, missing: str = "<unknown>") -> str:
    """translateTimestampSince: the time since ts, or `missing` without one."""
    if not ts:
        return missing
    return meta.human_age((now - meta.parse_time(str(ts))).total_seconds())


def age(obj: Obj, now: datetime) -> str:
    """The Age cell: the time since the object's creationTimestamp."""
    return since(obj.get("metadata", {}).get("creationTimestamp"), now)
