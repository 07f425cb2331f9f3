"""The Kubernetes protobuf envelope: request bodies typed clients send, and /openapi/v2.

Typed clients (kubectl's `create` commands, client-go in Helm and controllers) send
`application/vnd.kubernetes.protobuf`: the magic `k8s\\x00`, then a runtime.Unknown message
{typeMeta {apiVersion, kind}, raw, contentEncoding, contentType} whose `raw` is the object in
the field numbers of its generated.proto. Those numbers, for every message of k8s.io/api and of
apimachinery's meta/v1 (DeleteOptions, CreateOptions, …), are in proto_schemas.json, written by
hack/gen-proto-schemas.py with each field's JSON name and whether Go's JSON encoder keeps its
zero value (pointers, fields without omitempty); embedded structs are inlined as in JSON.
"""

from __future__ import annotations

import base64
import functools
import json
import struct
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from podhost.api import errors, registry
from podhost.protowire import DecodeError, encode_field, encode_varint, fields

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Field = tuple[str, Any, str]  # json name, type, flags ("k": keep zero, "i": inline)


@functools.cache
def schemas() -> dict[str, dict[int, Field]]:
    text = (resources.files("podhost.apiserver") / "proto_schemas.json").read_text()
    raw: dict[str, dict[str, list[Any]]] = json.loads(text)["messages"]
    return {name: {int(n): (f[0], f[1], f[2] if len(f) > 2 else "") for n, f in msg.items()}
            for name, msg in raw.items()}


def message_name(api_version: str, kind: str) -> str | None:
    """The schema of `kind` in `api_version` (`apps/v1` → apps/v1.Deployment); the option types
    (DeleteOptions, …) are meta/v1's in every group version, as the API server registers them."""
    group, _, version = api_version.rpartition("/")
    package = group.split(".")[0] if group else "core"
    for name in (f"{package}/{version}.{kind}", f"meta/v1.{kind}"):
        if name in schemas():
            return name
    return None


def _varint(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes) -> str | None:
    seconds = _varint(dict((n, v) for n, _w, v in fields(data)).get(1, 0))
    if seconds <= -62135596800:  # Go's zero time
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(nanoseconds: int) -> str:
    """time.Duration.String() for whole milliseconds and more: `1h2m3.5s`, `0s`."""
    if nanoseconds == 0:
        return "0s"
    sign, ns = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    hours, ns = divmod(ns, 3600 * 10**9)
    minutes, ns = divmod(ns, 60 * 10**9)
    seconds = f"{ns / 10**9:.9f}".rstrip("0").rstrip(".")
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return sign + text + seconds + "s"


def _first(value: Any) -> bytes:
    return bytes(dict((n, v) for n, _w, v in fields(bytes(value))).get(1, b""))


def _value(kind: Any, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "int":
        return _varint(value)
    if kind == "bool":
        return bool(value)
    if kind == "double":
        return struct.unpack("<d", bytes(value))[0]
    if kind == "quantity":
        return _first(value).decode()
    if kind == "time":
        return _time(bytes(value))
    if kind == "duration":
        return go_duration(_varint(dict((n, v) for n, _w, v in fields(bytes(value))).get(1, 0)))
    if kind == "raw":
        raw = _first(value)
        return json.loads(raw) if raw else None
    if kind == "stringlist":
        return [bytes(v).decode() for n, _w, v in fields(bytes(value)) if n == 1]
    if kind == "intorstr":  # {type 0: intVal, 1: strVal}
        parts = {n: v for n, _w, v in fields(bytes(value))}
        return bytes(parts.get(3, b"")).decode("utf-8") if parts.get(1) == 1 else \
            _varint(parts.get(2, 0))
    if isinstance(kind, str) and kind in schemas():
        return message(bytes(value), kind)
    raise DecodeError(f"unknown schema type {kind}")


def message(data: bytes, name: str) -> dict[str, Any]:
    """One message as the JSON Go's encoder writes for it."""
    schema = schemas()[name]
    obj: dict[str, Any] = {}
    for number, _wire, value in fields(data):
        if number not in schema:
            continue
        key, kind, flags = schema[number]
        if isinstance(kind, list) and kind[0] == "map":
            entry = {n: v for n, _w, v in fields(bytes(value))}
            obj.setdefault(key, {})[bytes(entry.get(1, b"")).decode()] = \
                _value(kind[1], entry.get(2, b""))
        elif isinstance(kind, list):
            obj.setdefault(key, []).append(_value(kind[1], value))
        elif flags == "i":
            obj.update(_value(kind, value))
        else:
            decoded = _value(kind, value)
            if decoded is not None and (flags == "k" or decoded not in ("", 0, False)):
                obj[key] = decoded
    return obj


def _unknown(data: bytes) -> tuple[dict[str, str], bytes]:
    """runtime.Unknown: (typeMeta, raw)."""
    parts = {n: v for n, _w, v in fields(data)}
    type_meta = {("apiVersion", "kind")[n - 1]: bytes(v).decode("utf-8")
                 for n, _w, v in fields(bytes(parts.get(1, b""))) if n in (1, 2)}
    return type_meta, bytes(parts.get(2, b""))


def decode(body: bytes, expected_kind: str) -> dict[str, Any]:
    """The JSON-shaped object from a protobuf request body, or a 415/400 ApiError."""
    try:
        if not body.startswith(MAGIC):
            raise DecodeError("provided data does not appear to be a protobuf message, "
                              "expected prefix [107 56 115 0]")
        type_meta, raw = _unknown(body[len(MAGIC):])
        kind = type_meta.get("kind", "")
        if kind != expected_kind:
            raise DecodeError(f'the kind "{kind}" does not match')
        served = registry.by_kind(kind)
        api_version = type_meta.get("apiVersion") or (served.api_version if served else "v1")
        name = message_name(api_version, kind)
        if name is None:
            raise errors.UnsupportedMediaError(
                "the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml (no {CONTENT_TYPE} schema for "
                f"{api_version}, Kind={kind})")
        obj = message(raw, name)
    except (DecodeError, UnicodeDecodeError, ValueError, struct.error) as e:
        raise errors.BadRequestError(f'{expected_kind} in version "v1" cannot be handled as a '
                                     f"{expected_kind}: {e}") from None
    return {"kind": kind, "apiVersion": api_version, **obj}


# Encoding: the gnostic `openapi.v2.Document` (github.com/google/gnostic openapiv2/OpenAPIv2.proto)
# that kubectl 1.27/1.28 download from /openapi/v2. Field numbers are those of that file.

PATH_ITEM_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7,
                   "patch": 8}
# (field number in QueryParameterSubSchema, in PathParameterSubSchema)
PARAMETER_FIELDS = {"required": (1, 1), "in": (2, 2), "description": (3, 3), "name": (4, 4),
                    "type": (6, 5), "format": (7, 6), "uniqueItems": (20, 19)}
NON_BODY_PARAMETER = {"query": 3, "path": 4}


def _string(number: int, value: str) -> bytes:
    return encode_field(number, value.encode()) if value else b""


def _bool(number: int, value: bool) -> bytes:
    return encode_varint(number << 3) + b"\x01" if value else b""


def _strings(number: int, values: list[str]) -> bytes:
    return b"".join(encode_field(number, v.encode()) for v in values)


def _vendor_extensions(number: int, obj: dict[str, Any]) -> bytes:
    """`x-…` keys as NamedAny{name, Any{yaml}}; JSON is valid YAML."""
    return b"".join(encode_field(number, _string(1, k) + encode_field(2, _string(2, json.dumps(v))))
                    for k, v in obj.items() if k.startswith("x-"))


def _parameter(param: dict[str, Any]) -> bytes:
    """ParametersItem{Parameter{NonBodyParameter{Query|PathParameterSubSchema}}}."""
    column = 0 if param["in"] == "query" else 1
    sub = b""
    for key, numbers in PARAMETER_FIELDS.items():
        value = param.get(key)
        sub += _bool(numbers[column], value) if isinstance(value, bool) else \
            _string(numbers[column], value or "")
    non_body = encode_field(NON_BODY_PARAMETER[param["in"]], sub)
    return encode_field(1, encode_field(2, non_body))


def _operation(op: dict[str, Any]) -> bytes:
    responses = b"".join(
        encode_field(1, _string(1, code) +
                     encode_field(2, encode_field(1, _string(1, r["description"]))))
        for code, r in op.get("responses", {}).items())
    return (_strings(1, op.get("tags", [])) + _string(5, op.get("operationId", "")) +
            _strings(6, op.get("produces", [])) + _strings(7, op.get("consumes", [])) +
            b"".join(encode_field(8, _parameter(p)) for p in op.get("parameters", [])) +
            encode_field(9, responses) + _vendor_extensions(13, op))


def _path_item(item: dict[str, Any]) -> bytes:
    out = b"".join(encode_field(PATH_ITEM_VERBS[verb], _operation(op))
                   for verb, op in item.items() if verb in PATH_ITEM_VERBS)
    return out + b"".join(encode_field(9, _parameter(p)) for p in item.get("parameters", []))


def encode_openapi_v2(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document without definitions as gnostic protobuf."""
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    paths = b"".join(encode_field(2, _string(1, path) + encode_field(2, _path_item(item)))
                     for path, item in doc.get("paths", {}).items())
    if doc.get("definitions"):
        raise ValueError("podhost encodes /openapi/v2 without definitions only")
    return _string(1, doc["swagger"]) + encode_field(2, info) + encode_field(8, paths)
