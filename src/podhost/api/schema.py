"""The Kubernetes 1.32 core/v1 schemas, used the way the API server's decoder uses its Go types.

The definitions come from PyPI's `kubernetes-validate` (offline JSON Schema copies of the
OpenAPI definitions of each Kubernetes release); nothing here is a hand-kept list of fields.

* `type_error(kind, obj)`: the first value whose JSON type the Go decoder cannot take, worded as
  encoding/json does (`json: cannot unmarshal string into Go struct field PodSpec.spec.containers
  of type []v1.Container`).
* `prune_unknown(kind, obj)`: remove fields the schema does not know, in place, and return their
  paths as sigs.k8s.io/json's strict decoder names them (`spec.containers[0].imagee`).
* `openapi_schemas()`: the same definitions as OpenAPI v3 `components.schemas`.

Reading the packaged definitions file once (lazily) is the only I/O in `api/`.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from podhost.api import quantity, registry
from podhost.api.types import Obj

KUBERNETES_VERSION = "v1.32.0"
REF_PREFIX = "#/$defs/"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
CORE = "io.k8s.api.core.v1."
_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
               dict: "object"}
_SCALARS: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool,
                                                 "number": (int, float), "integer": int}


@functools.cache
def definitions() -> dict[str, Obj]:
    """Every definition of the Kubernetes 1.32 API, keyed by its OpenAPI name."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / f"{KUBERNETES_VERSION}-local" / "_definitions.json").read_text()
    defs: dict[str, Obj] = json.loads(text)["$defs"]
    return defs


def _resolve(node: Obj) -> tuple[str | None, Obj]:
    ref = node.get("$ref")
    if ref:
        name = ref[len(REF_PREFIX):]
        return name, definitions()[name]
    return None, node


def _types(node: Obj) -> list[str]:
    t = node.get("type", [])
    return [x for x in ([t] if isinstance(t, str) else t) if x != "null"]


def _shape(node: Obj) -> str:
    """struct | map | array | free (any JSON) | special (Quantity, IntOrString) | scalar type."""
    if "oneOf" in node:
        return "special"
    types = _types(node)
    if "array" in types:
        return "array"
    if "object" in types:
        if "properties" in node:
            return "struct"
        return "map" if "additionalProperties" in node else "free"
    return types[0] if types else "free"


def go_type(node: Obj, name: str | None = None) -> str:
    """The Go type a schema node decodes into, as encoding/json prints it (`[]v1.Container`)."""
    if name is None and "$ref" in node:
        name, node = _resolve(node)
    shape = _shape(node)
    if name and shape in ("struct", "special", "free"):
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    if shape == "array":
        return "[]" + go_type(node["items"])
    if shape == "map":
        return "map[string]" + go_type(node["additionalProperties"])
    fmt = node.get("format")
    if shape == "integer":
        return fmt if fmt in ("int32", "int64") else "int"
    if shape == "number":
        return "float64"
    if shape == "string" and fmt == "byte":
        return "[]uint8"
    return {"boolean": "bool"}.get(shape, shape)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "string")


def _fits(node: Obj, value: Any) -> bool:
    shape = _shape(node)
    if value is None or shape == "free":
        return True
    if shape in ("struct", "map"):
        return isinstance(value, dict)
    if shape == "array":
        return isinstance(value, list)
    if shape == "special":  # Quantity and IntOrString decode themselves (see quantity.check)
        return not isinstance(value, (dict, list))
    if shape == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or \
            isinstance(value, float) and value.is_integer()
    if shape in ("number", "string"):
        return isinstance(value, _SCALARS[shape]) and not isinstance(value, bool)
    return isinstance(value, _SCALARS.get(shape, object))


def _walk_types(node: Obj, value: Any, struct: str, path: str) -> Iterator[str]:
    """Yield a Go-worded error for every value the decoder would reject, depth first."""
    name, node = _resolve(node)
    if not _fits(node, value):
        what = _json_type(value)
        if isinstance(value, float) and _shape(node) == "integer":
            what = f"number {value!r}"
        yield (f"json: cannot unmarshal {what} into Go struct field {struct}.{path} "
               f"of type {go_type(node, name)}")
        return
    shape = _shape(node)
    if value is None:
        return
    if name == QUANTITY and not isinstance(value, (int, float)):
        try:
            quantity.parse_decimal(str(value))
        except quantity.QuantityError as e:
            yield str(e)
        return
    if shape == "struct":
        owner = (name or struct).rsplit(".", 1)[-1]
        props = node["properties"]
        for key, sub in value.items():
            if key in props:
                yield from _walk_types(props[key], sub, owner, f"{path}.{key}" if path else key)
    elif shape == "array":
        for item in value:
            yield from _walk_types(node["items"], item, struct, path)
    elif shape == "map":
        for item in value.values():
            yield from _walk_types(node["additionalProperties"], item, struct, path)


def resolve(node: Obj) -> Obj:
    """A schema node with its `$ref` followed."""
    return _resolve(node)[1]


def definition_of(obj: Obj) -> str | None:
    """The OpenAPI definition of an object by its apiVersion and kind (`autoscaling/v1` Scale:
    `io.k8s.api.autoscaling.v1.Scale`), served or not."""
    kind, api_version = str(obj.get("kind") or ""), str(obj.get("apiVersion") or "v1")
    served = registry.by_kind(kind, api_version)
    if served is not None:
        return served.definition
    group, _, version = api_version.rpartition("/")
    return f"io.k8s.api.{group.split('.')[0] if group else 'core'}.{version}.{kind}"


def root_definition(kind: str) -> str | None:
    """The Go type (OpenAPI definition name) a served kind's wire objects decode into."""
    served = registry.by_kind(kind)
    return served.definition if served is not None else None


def type_error(kind: str, obj: Obj) -> str | None:
    """The decoder's complaint about the first mistyped value of `obj`, or None."""
    root = root_definition(kind)
    if root is None:
        return None
    return next(_walk_types({"$ref": REF_PREFIX + root}, obj, kind, ""), None)


def _zero(node: Obj) -> Any:
    """What a JSON null decodes to where a value is required (Go's zero value)."""
    shape = _shape(_resolve(node)[1])
    return {"struct": {}, "string": "", "integer": 0, "number": 0, "boolean": False}.get(shape)


def _prune(node: Obj, value: Any, path: str) -> Iterator[str]:
    """Remove unknown fields (yielding their paths) and nulls (as Go leaves them unset)."""
    _name, node = _resolve(node)
    shape = _shape(node)
    if shape == "struct" and isinstance(value, dict):
        props = node["properties"]
        for key in list(value):
            sub_path = f"{path}.{key}" if path else key
            if key not in props:
                del value[key]
                yield sub_path
            elif value[key] is None:
                del value[key]
            else:
                yield from _prune(props[key], value[key], sub_path)
    elif shape == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            if item is None:
                value[i] = _zero(node["items"])
            yield from _prune(node["items"], value[i], f"{path}[{i}]")
    elif shape == "map" and isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                value[key] = _zero(node["additionalProperties"])
            yield from _prune(node["additionalProperties"], value[key], f"{path}[{key}]")


def prune_unknown(kind: str, obj: Obj) -> list[str]:
    """Drop the fields of `obj` that `kind` does not have (and nulls); return their paths."""
    root = root_definition(kind)
    if root is None:
        return []
    return list(_prune({"$ref": REF_PREFIX + root}, obj, ""))


def _to_openapi(node: Any) -> Any:
    """JSON Schema 2020-12 node → OpenAPI 3.0 node (refs, nullable type lists, wrapped refs)."""
    if isinstance(node, list):
        return [_to_openapi(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_openapi(v) for k, v in node.items() if k not in ("$ref", "properties")}
    if isinstance(node.get("type"), list):
        types = _types(node)
        if types:
            out["type"] = types[0]
        else:
            out.pop("type")
    if "$ref" in node:
        ref = "#/components/schemas/" + node["$ref"][len(REF_PREFIX):]
        if out:
            out["allOf"] = [{"$ref": ref}]
        else:
            out["$ref"] = ref
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _to_openapi(v) for k, v in node["properties"].items()}
    return out


@functools.cache
def _openapi_schemas() -> dict[str, Obj]:
    return {name: _to_openapi(node) for name, node in definitions().items()}


# custom resources' OpenAPI v3 components, by definition name (api/apiextensions sets them)
CUSTOM_OPENAPI: dict[str, Obj] = {}


def openapi_schemas() -> dict[str, Obj]:
    """All 1.32 definitions (and the custom resources') as OpenAPI v3 `components.schemas`
    (a fresh copy each call)."""
    return copy.deepcopy({**_openapi_schemas(), **CUSTOM_OPENAPI})
