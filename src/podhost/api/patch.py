"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch for core/v1.

The strategic merge keys are those of the core/v1 types (`patchMergeKey` in types.go), so that
`kubectl apply`'s patches merge lists such as containers, volumes, env and ports by key.
"""

from __future__ import annotations

import copy
from typing import Any

from podhost.api import errors

# field name -> merge key, for lists that merge by key (patchStrategy "merge").
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "imagePullSecrets": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "ports": "containerPort", "conditions": "type",
    "hostAliases": "ip", "resourceClaims": "name", "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey", "ownerReferences": "uid",
    "finalizers": "", "secrets": "name", "podIPs": "ip",
}
# lists of scalars that merge as sets
SET_LISTS = {"finalizers"}


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


def _merge_list(field: str, target: list[Any], patch: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field in SET_LISTS or key == "":
        return list(dict.fromkeys([*target, *[p for p in patch if not isinstance(p, dict)]]))
    if not key or not all(isinstance(p, dict) for p in patch):
        return [_strip_directives(p) for p in patch]
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
            result[match] = strategic_merge(result[match], item)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch with the core/v1 merge keys and the common directives."""
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
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = _strip_directives(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result
