"""ConfigMaps (pkg/registry/core/configmap): valid keys, none in both data and binaryData."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from podhost.api import errors, table
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy

_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def key_errors(keys: list[str], path: str) -> list[FieldError]:
    """IsConfigMapKey for each key."""
    errs = []
    for key in keys:
        if not key or len(key) > 253 or not _DATA_KEY.match(key):
            errs.append(errors.invalid(f"{path}[{key}]", key,
                                       "a valid config key must consist of alphanumeric "
                                       "characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                       "'KEY_NAME',  or 'key-name', regex used for validation "
                                       "is '[-._a-zA-Z0-9]+')"))
    return errs


class ConfigMapStrategy(Strategy):
    columns = table.CONFIGMAP_COLUMNS

    def validate(self, obj: Obj) -> list[FieldError]:
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        errs = key_errors(list(data), "data") + key_errors(list(binary), "binaryData")
        return errs + [errors.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
                       for k in data if k in binary]

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.configmap_cells(obj, now)


strategy = ConfigMapStrategy()
