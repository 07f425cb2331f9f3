"""Protobuf bodies of the workload kinds (apps/v1, batch/v1), as kubectl's typed clients send
them (`kubectl create job --from=cronjob/X`, `kubectl create deployment`).

The field numbers come from proto_schemas.json, which hack/gen-proto-schemas.py writes from
kubernetes/api v0.32's generated.proto files; messages refer to each other by name. Values a
JSON encoder would leave out (empty strings, zeros, false) are left out, as apiserver/protobuf
does for the core kinds.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from podhost.api import errors, registry
from podhost.apiserver.protobuf import MAGIC, UNKNOWN, decode_message
from podhost.protowire import DecodeError, fields

KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                   "ControllerRevision",
                   "Pod"})  # kubectl debug --copy-to and node/NAME create Pods this way

# Go's embedded structs (`json:",inline"`): their fields are the parent's in JSON
INLINE = frozenset({("volumeSource", "VolumeSource"),
                    ("ephemeralContainerCommon", "EphemeralContainerCommon"),
                    ("localObjectReference", "LocalObjectReference"),
                    ("handler", "ProbeHandler")})


@functools.cache
def schemas() -> dict[str, dict[int, tuple[str, Any]]]:
    text = (resources.files("podhost.apiserver") / "proto_schemas.json").read_text()
    raw: dict[str, dict[str, list[Any]]] = json.loads(text)
    return {name: {int(n): (f[0], f[1]) for n, f in msg.items()} for name, msg in raw.items()}


def _time(data: bytes) -> str | None:
    parts = {n: v for n, _w, v in fields(data)}
    seconds = parts.get(1, 0)
    seconds = seconds - (1 << 64) if seconds >= 1 << 63 else seconds
    if seconds <= -62135596800:  # Go's zero time
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(kind: Any, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if kind == "quantity":
        return bytes(dict((n, v) for n, _w, v in fields(bytes(value))).get(1, b"")).decode()
    if kind == "time":
        return _time(bytes(value))
    if kind == "raw":
        raw = bytes(dict((n, v) for n, _w, v in fields(bytes(value))).get(1, b""))
        return json.loads(raw) if raw else None
    if kind == "intorstr":
        parts = {n: v for n, _w, v in fields(bytes(value))}
        return bytes(parts.get(3, b"")).decode("utf-8") if parts.get(1) == 1 else \
            int(parts.get(2, 0))
    if isinstance(kind, str) and kind in schemas():
        return message(bytes(value), kind)
    raise DecodeError(f"unknown schema type {kind}")


def message(data: bytes, name: str) -> dict[str, Any]:
    schema = schemas()[name]
    obj: dict[str, Any] = {}
    for number, _wire, value in fields(data):
        if number not in schema:
            continue
        key, kind = schema[number]
        if isinstance(kind, list) and kind[0] == "map":
            entry = {n: v for n, _w, v in fields(bytes(value))}
            obj.setdefault(key, {})[bytes(entry.get(1, b"")).decode()] = \
                _value(kind[1], entry.get(2, b""))
        elif isinstance(kind, list):
            obj.setdefault(key, []).append(_value(kind[1], value))
        elif (key, kind) in INLINE:
            obj.update(_value(kind, value))
        else:
            decoded = _value(kind, value)
            if decoded not in ("", 0, False, None):
                obj[key] = decoded
    return obj


def decode(body: bytes, expected_kind: str) -> dict[str, Any]:
    """The JSON-shaped object of a protobuf request body, or a 400."""
    try:
        if not body.startswith(MAGIC):
            raise DecodeError("provided data does not appear to be a protobuf message, "
                              "expected prefix [107 56 115 0]")
        unknown = decode_message(body[len(MAGIC):], UNKNOWN)
        type_meta = unknown.get("typeMeta", {})
        if type_meta.get("kind") != expected_kind:
            raise DecodeError(f'the kind "{type_meta.get("kind", "")}" does not match')
        obj = message(unknown.get("raw", b""), expected_kind)
    except (DecodeError, UnicodeDecodeError, ValueError) as e:
        raise errors.BadRequestError(f'{expected_kind} in version "v1" cannot be handled as a '
                                     f"{expected_kind}: {e}") from None
    served = registry.by_kind(expected_kind)
    api_version = type_meta.get("apiVersion") or (served.api_version if served else "v1")
    return {"kind": expected_kind, "apiVersion": api_version, **obj}
