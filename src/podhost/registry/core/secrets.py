"""Secrets (pkg/registry/core/secret): `stringData` merged into `data` (base64 checked as the
decoder does), type Opaque by default, valid keys."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from podhost.api import errors, table
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.core.configmaps import key_errors
from podhost.registry.strategy import Strategy


def _bad_base64_offset(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, ch in enumerate(value):
        if ch not in alphabet:
            return i if ch != "=" or len(value) % 4 else len(value)
    return len(value) - len(value) % 4


def prepare_secret(obj: Obj) -> Obj:
    """Decode checks on `data` (400 like the decoder) and `stringData` merged into `data`."""
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise errors.BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                                     "data must be an object")
    for value in data.values():
        if not isinstance(value, str):
            raise errors.BadRequestError(
                f'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                f'{type(value).__name__} into Go struct field Secret.data of type []uint8')
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise errors.BadRequestError(
                'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at '
                f"input byte {_bad_base64_offset(value)}") from None
    string_data = obj.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        raise errors.BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                                     "stringData must be an object")
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    if not obj.get("type"):
        obj["type"] = "Opaque"
    return obj


class SecretStrategy(Strategy):
    columns = table.SECRET_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        obj.setdefault("type", "Opaque")

    def canonicalize(self, obj: Obj) -> None:
        prepare_secret(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        return key_errors(list(obj.get("data") or {}), "data")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return table.secret_cells(obj, now)


strategy = SecretStrategy()
