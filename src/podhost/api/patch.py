"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge reads each list's strategy from the object's OpenAPI schema, as the API server
reads `patchStrategy`/`patchMergeKey` from its Go types: `x-kubernetes-patch-strategy: merge`
with `x-kubernetes-patch-merge-key` merges a list of objects by that key (containers by `name`,
container ports by `containerPort`, Service ports by `port`), a merge list of scalars is a set
(finalizers); any other list is replaced.
"""

from __future__ import annotations

import copy
from typing import Any

from podhost.api import errors, schema
from podhost.api.types import Obj


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.BadRequestError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def _json_patch_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    parts = _pointer(op.get("path", ""))
    if kind == "test":
        if _walk(doc, parts) != op.get("value"):
            raise errors.InvalidError("Pod", "", [])  # replaced by caller with a clear message
        return doc
    if kind in ("move", "copy"):
        src = _pointer(op.get("from", ""))
        value = copy.deepcopy(_walk(doc, src))
        if kind == "move":
            doc = _json_patch_op(doc, {"op": "remove", "path": op["from"]})
        return _json_patch_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        return copy.deepcopy(op.get("value")) if kind in ("add", "replace") else None
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "remove":
            del parent[index]
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
    elif isinstance(parent, dict):
        if kind in ("remove", "replace") and last not in parent:
            raise KeyError(last)
        if kind == "remove":
            del parent[last]
        elif kind in ("add", "replace"):
            parent[last] = copy.deepcopy(op["value"])
    else:
        raise KeyError(last)
    if kind not in ("add", "remove", "replace"):
        raise errors.BadRequestError(f"unexpected operation {kind!r}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902; a failed op is a 422 the way the API server reports it."""
    if not isinstance(ops, list):
        raise errors.BadRequestError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            doc = _json_patch_op(doc, op)
        except (KeyError, IndexError) as e:  # evanphx/json-patch's words
            raise errors.RejectedError(
                f'{op.get("op")} operation does not apply: doc is missing path: '
                f'"{op.get("path")}": missing value') from e
        except (ValueError, TypeError) as e:
            raise errors.RejectedError(str(e)) from e
        except errors.InvalidError:
            raise errors.RejectedError(f"testing value {op.get('path')} failed") from None
    return doc


def _field_schema(node: Obj | None, key: str) -> Obj | None:
    """The schema of field `key` of a struct, or of any value of a map."""
    if node is None:
        return None
    node = schema.resolve(node)
    properties = node.get("properties")
    if isinstance(properties, dict):
        child = properties.get(key)
        return child if isinstance(child, dict) else None
    values = node.get("additionalProperties")
    return values if isinstance(values, dict) else None


def _items_schema(node: Obj | None) -> Obj | None:
    items = schema.resolve(node).get("items") if node is not None else None
    return items if isinstance(items, dict) else None


def _merge_list(node: Obj | None, target: list[Any], patch: list[Any]) -> list[Any]:
    """A list by its schema's strategy: merged by key, a set of scalars, or replaced."""
    strategy = str((node or {}).get("x-kubernetes-patch-strategy", "")).split(",")
    key = str((node or {}).get("x-kubernetes-patch-merge-key", ""))
    if "merge" not in strategy:
        return [_strip_directives(p) for p in patch]
    if not key or not all(isinstance(p, dict) for p in patch):
        if any(isinstance(p, dict) for p in patch):
            return [_strip_directives(p) for p in patch]
        return list(dict.fromkeys([*target, *patch]))
    items = _items_schema(node)
    result = copy.deepcopy(target)
    for item in patch:
        directive = item.get("$patch")
        match = next((i for i, t in enumerate(result)
                      if isinstance(t, dict) and t.get(key) == item.get(key)), None)
        if directive == "delete":
            if match is not None:
                del result[match]
        elif directive == "replace":
            return [_strip_directives(p) for p in patch if p.get("$patch") != "replace"]
        elif match is None:
            result.append(_strip_directives(item))
        else:
            result[match] = _merge(result[match], item, items)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def strategic_merge(target: Any, patch: Any, definition: str | None = None) -> Any:
    """Strategic merge patch of `target` (an object of a served kind, or of the OpenAPI
    `definition` given) with the list strategies of its schema and the common directives."""
    if definition is None and isinstance(target, dict):
        definition = schema.definition_of(target)
    node = {"$ref": schema.REF_PREFIX + definition} \
        if definition in schema.definitions() else None
    return _merge(target, patch, node)


def _merge(target: Any, patch: Any, node: Obj | None) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(_field_schema(node, key), result[key], value)
        elif isinstance(value, dict):
            merged = _merge(result.get(key), value, _field_schema(node, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = _strip_directives(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result
