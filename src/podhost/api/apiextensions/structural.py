"""A CRD version's openAPIV3Schema used as the API server uses a structural schema.

* `validate(schema, obj)`: the value validation of kube-openapi (types, formats, enum,
  bounds, patterns, required, nullable, anyOf/oneOf/allOf/not, int-or-string, embedded
  resources) and of `x-kubernetes-list-type` / `-list-map-keys` uniqueness, with the field
  paths and wording of apiextensions-apiserver (`spec.replicas: Invalid value: "string":
  spec.replicas in body must be of type integer: "string"`).
* `default(schema, obj)`: apply `default` values of absent properties (create, update, read).
* `prune(schema, obj)`: drop fields the schema does not specify (unless
  `x-kubernetes-preserve-unknown-fields`), returning their paths for `fieldValidation`.
* `schema_errors(schema, path)`: what makes a schema non-structural, in upstream's words.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj

EMBEDDED_KEEP = ("apiVersion", "kind", "metadata")
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object"}
_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                       re.IGNORECASE)


class GoValue:
    """A value printed as Go's %#v of an unstructured map (`map[string]interface {}{...}`)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        if isinstance(self.value, dict):
            inner = ", ".join(f"{json.dumps(k)}:{_go(v)}" for k, v in sorted(self.value.items()))
            return "map[string]interface {}{" + inner + "}"
        return _go(self.value)


def _go(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return str(GoValue(value))
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go(v) for v in value) + "}"
    return errors._render_value(value)


def type_name(value: Any) -> str:
    """kube-openapi's name of a JSON value's type."""
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), "string")


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _body(path: str) -> str:
    return f"{path} in body" if path else "in body"


def _type_ok(node: Obj, value: Any) -> bool:
    t = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if not t:
        return True
    actual = type_name(value)
    return actual == t or (t == "number" and actual == "integer")


# ---- validation ------------------------------------------------------------------------

def validate(schema: Obj, obj: Any, path: str = "") -> list[FieldError]:
    """Every value of `obj` that `schema` refuses, in kube-openapi's order and words."""
    return list(_validate(schema, obj, path))


def _validate(node: Obj, value: Any, path: str) -> Iterator[FieldError]:
    if value is None:
        if not node.get("nullable") and (node.get("type") or
                                         node.get("x-kubernetes-int-or-string")):
            t = node.get("type") or "integer,string"
            yield FieldError("FieldValueTypeInvalid", path,
                             f'{_body(path)} must be of type {t}: "null"', "null", True)
        return
    if not _type_ok(node, value):
        actual, wanted = type_name(value), node.get("type") or "integer,string"
        yield FieldError("FieldValueTypeInvalid", path,
                         f'{_body(path)} must be of type {wanted}: "{actual}"',
                         actual, True)
        return
    yield from _combinators(node, value, path)
    if isinstance(value, bool):
        pass
    elif isinstance(value, (int, float)):
        yield from _number(node, value, path)
    elif isinstance(value, str):
        yield from _string(node, value, path)
    elif isinstance(value, list):
        yield from _array(node, value, path)
    elif isinstance(value, dict):
        yield from _object(node, value, path)
    if "enum" in node and value not in node["enum"]:
        yield errors.not_supported(path, value, [v if isinstance(v, str) else json.dumps(v)
                                                 for v in node["enum"]])


def _combinators(node: Obj, value: Any, path: str) -> Iterator[FieldError]:
    for sub in node.get("allOf") or []:
        yield from _validate(sub, value, path)
    if node.get("anyOf") and not any(not validate(s, value, path) for s in node["anyOf"]):
        yield from _validate(node["anyOf"][0], value, path)
        yield errors.invalid(path, GoValue(value) if isinstance(value, dict) else value,
                             f"{_body(path)} must validate at least one schema (anyOf)")
    if node.get("oneOf"):
        passing = sum(1 for s in node["oneOf"] if not validate(s, value, path))
        if passing != 1:
            yield errors.invalid(path, GoValue(value) if isinstance(value, dict) else value,
                                 f"{_body(path)} must validate one and only one schema (oneOf)")
    if isinstance(node.get("not"), dict) and not validate(node["not"], value, path):
        yield errors.invalid(path, GoValue(value) if isinstance(value, dict) else value,
                             f"{_body(path)} must not validate the schema (not)")


def _number(node: Obj, value: float, path: str) -> Iterator[FieldError]:
    if "maximum" in node:
        if node.get("exclusiveMaximum") and value >= node["maximum"]:
            yield errors.invalid(path, value, f"{_body(path)} should be less than "
                                              f"{node['maximum']}")
        elif value > node["maximum"]:
            yield errors.invalid(path, value, f"{_body(path)} should be less than or equal "
                                              f"to {node['maximum']}")
    if "minimum" in node:
        if node.get("exclusiveMinimum") and value <= node["minimum"]:
            yield errors.invalid(path, value, f"{_body(path)} should be greater than "
                                              f"{node['minimum']}")
        elif value < node["minimum"]:
            yield errors.invalid(path, value, f"{_body(path)} should be greater than or "
                                              f"equal to {node['minimum']}")
    if node.get("multipleOf") and (value / node["multipleOf"]) % 1:
        yield errors.invalid(path, value, f"{_body(path)} should be a multiple of "
                                          f"{node['multipleOf']}")


def _string(node: Obj, value: str, path: str) -> Iterator[FieldError]:
    if "maxLength" in node and len(value) > node["maxLength"]:
        yield FieldError("FieldValueTooLong", path, f"may not be longer than {node['maxLength']}",
                         value, True)
    if "minLength" in node and len(value) < node["minLength"]:
        yield errors.invalid(path, value, f"{_body(path)} should be at least "
                                          f"{node['minLength']} chars long")
    if "pattern" in node and not re.search(_go_regex(node["pattern"]), value):
        yield errors.invalid(path, value, f"{_body(path)} should match '{node['pattern']}'")
    fmt = node.get("format")
    if fmt and not format_ok(fmt, value):
        yield FieldError("FieldValueTypeInvalid", path,
                         f'{_body(path)} must be of type {fmt}: "{value}"', value, True)


def _go_regex(pattern: str) -> str:
    """RE2 syntax the Python engine spells differently (`\\z`)."""
    return pattern.replace(r"\z", r"\Z")


def format_ok(fmt: str, value: str) -> bool:
    """The string formats kube-openapi's registry checks (others pass)."""
    checks = {"ipv4": lambda v: isinstance(ipaddress.ip_address(v), ipaddress.IPv4Address),
              "ipv6": lambda v: isinstance(ipaddress.ip_address(v), ipaddress.IPv6Address),
              "cidr": lambda v: ipaddress.ip_network(v, strict=False) is not None,
              "uuid": lambda v: uuid.UUID(v) is not None,
              "byte": lambda v: base64.b64decode(v, validate=True) is not None,
              "date": lambda v: datetime.strptime(v, "%Y-%m-%d") is not None,
              "date-time": lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")) is not None,
              "hostname": lambda v: len(v) <= 255 and _HOSTNAME.match(v) is not None}
    check = checks.get(fmt)
    if check is None:
        return True
    try:
        return bool(check(value))
    except (ValueError, binascii.Error):
        return False


def _array(node: Obj, value: list[Any], path: str) -> Iterator[FieldError]:
    if "maxItems" in node and len(value) > node["maxItems"]:
        yield FieldError("FieldValueTooMany", path, f"must have at most {node['maxItems']} items",
                         len(value), True)
    if "minItems" in node and len(value) < node["minItems"]:
        yield errors.invalid(path, len(value), f"{_body(path)} should have at least "
                                               f"{node['minItems']} items")
    if node.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) \
            != len(value):
        yield errors.invalid(path, GoValue(value), f"{_body(path)} shouldn't contain duplicates")
    items = node.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            yield from _validate(items, item, f"{path}[{i}]")
    yield from _list_type(node, value, path)


def _list_type(node: Obj, value: list[Any], path: str) -> Iterator[FieldError]:
    """structurallisttype.ValidateListSetsAndMaps: duplicates of sets and of map keys."""
    kind = node.get("x-kubernetes-list-type")
    seen: set[str] = set()
    for i, item in enumerate(value):
        if kind == "set":
            key = json.dumps(item, sort_keys=True)
            shown: Any = GoValue(item) if isinstance(item, (dict, list)) else item
        elif kind == "map" and isinstance(item, dict):
            keys = node.get("x-kubernetes-list-map-keys") or []
            picked = {k: item[k] for k in keys if k in item}
            key = json.dumps(picked, sort_keys=True)
            shown = GoValue(picked)
        else:
            return
        if key in seen:
            yield errors.duplicate(f"{path}[{i}]", shown)
        seen.add(key)


def _object(node: Obj, value: Obj, path: str) -> Iterator[FieldError]:
    if "maxProperties" in node and len(value) > node["maxProperties"]:
        yield FieldError("FieldValueTooMany", path,
                         f"must have at most {node['maxProperties']} items", len(value), True)
    if "minProperties" in node and len(value) < node["minProperties"]:
        yield errors.invalid(path, len(value), f"{_body(path)} should have at least "
                                               f"{node['minProperties']} properties")
    for key in node.get("required") or []:
        if key not in value:
            yield errors.required(child(path, key))
    props = node.get("properties") or {}
    extra = node.get("additionalProperties")
    for key, sub in value.items():
        if key in props:
            yield from _validate(props[key], sub, child(path, key))
        elif isinstance(extra, dict):
            yield from _validate(extra, sub, child(path, key))
    if node.get("x-kubernetes-embedded-resource"):
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                yield errors.required(child(path, key), "must not be empty")


# ---- defaulting and pruning ------------------------------------------------------------

def default(schema: Obj, obj: Any) -> Any:
    """Set the `default` of every absent property (in place), as structuraldefaulting does."""
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                default(sub, obj[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in obj.keys() - props.keys():
                default(extra, obj[key])
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            default(schema["items"], item)
    return obj


def prune(schema: Obj, obj: Any, path: str = "", root: bool = True) -> list[str]:
    """Remove fields `schema` does not specify (in place); their paths, as upstream names
    them in `unknown field "spec.foo"`."""
    return list(_prune(schema, obj, path, root))


def _prune(node: Obj, value: Any, path: str, keep_meta: bool) -> Iterator[str]:
    if isinstance(value, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        preserve = node.get("x-kubernetes-preserve-unknown-fields") or extra is True
        keep = EMBEDDED_KEEP if keep_meta or node.get("x-kubernetes-embedded-resource") else ()
        for key in list(value):
            if key in keep:  # ObjectMeta is pruned by its own type, not the CRD's schema
                continue
            sub_path = child(path, key)
            if key in props:
                yield from _prune(props[key], value[key], sub_path, False)
            elif isinstance(extra, dict):
                yield from _prune(extra, value[key], sub_path, False)
            elif not preserve:
                del value[key]
                yield sub_path
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from _prune(node["items"], item, f"{path}[{i}]", False)
