"""Server-side apply and `metadata.managedFields`, as sigs.k8s.io/structured-merge-diff does them.

A field set is a set of paths; a path is a tuple of FieldsV1 path elements: `f:<field>` for struct
and map fields, `k:{"name":"c"}` for items of associative lists (list map keys from the 1.32
schema), `v:<json>` for items of set lists and `i:<n>` for other list items. Lists and structs
are atomic or granular as the schema's `x-kubernetes-list-type` / `x-kubernetes-map-type` say.

* `updated(...)`: the managedFields after a create/update/patch by one manager (Update).
* `apply(...)`: the object and managedFields after an Apply, or a 409 with the conflicts.
* `encode_fields` / `decode_fields`: the FieldsV1 tree (`.: {}` marks owned items with children).

Pure functions over wire dicts; the schema comes from `api/schema.py`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podhost.api import errors, registry, schema
from podhost.api.types import Obj

Path = tuple[str, ...]
FieldSet = set[Path]

API_VERSION = "v1"
APPLY, UPDATE = "Apply", "Update"
# metadata the field manager never tracks (stripMetaManager)
STRIPPED_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                 "generation", "managedFields", "selfLink")
# list map keys the API defaults when an item omits them
KEY_DEFAULTS = {"protocol": "TCP"}
# fields a write of the main resource / of a subresource may not own (GetResetFields)
RESET_FIELDS = {("pods", ""): ("f:status",), ("namespaces", ""): ("f:status",),
                ("pods", "status"): ("f:spec",), ("namespaces", "status"): ("f:spec",)}
# what an empty object of each kind looks like (Go fields that are never omitted)
EMPTY_OBJECTS: dict[str, Obj] = {"pods": {"spec": {"containers": []}, "status": {}},
                                 "namespaces": {"spec": {}, "status": {}}}


# ---- schema ------------------------------------------------------------------------------

def root_node(resource: str) -> Obj:
    definition = schema.root_definition(registry.kind_of(resource))
    assert definition is not None, resource
    return schema.definitions()[definition]


def _resolve(node: Obj | None) -> Obj | None:
    return schema._resolve(node)[1] if node is not None else None


def _child(node: Obj | None, key: str) -> Obj | None:
    node = _resolve(node)
    if node is None:
        return None
    props = node.get("properties") or {}
    if key in props:
        declared: Obj = props[key]
        return declared
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _declared(node: Obj | None, key: str) -> bool:
    node = _resolve(node)
    return node is not None and key in (node.get("properties") or {})


def _items(node: Obj | None) -> Obj | None:
    node = _resolve(node)
    return node.get("items") if node is not None else None


def _list_type(node: Obj | None) -> str:
    node = _resolve(node)
    return str((node or {}).get("x-kubernetes-list-type", "atomic"))


def _is_leaf(node: Obj | None, value: Any) -> bool:
    """Scalars, atomic lists, atomic structs/maps and Quantity-like values are leaves."""
    resolved = _resolve(node)
    if isinstance(value, dict):
        return resolved is not None and (resolved.get("x-kubernetes-map-type") == "atomic"
                                         or "oneOf" in resolved)
    if isinstance(value, list):
        return _list_type(node) == "atomic"
    return True


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def item_element(node: Obj | None, item: Any, index: int) -> str:
    """The path element of one list item (`k:`, `v:` or `i:`)."""
    resolved = _resolve(node) or {}
    kind = resolved.get("x-kubernetes-list-type", "atomic")
    if kind == "map" and isinstance(item, dict):
        keys = resolved.get("x-kubernetes-list-map-keys") or []
        return "k:" + _compact({k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys})
    if kind == "set":
        return "v:" + _compact(item)
    return f"i:{index}"


def _indexed(node: Obj | None, items: list[Any] | None) -> dict[str, Any]:
    """List items (`node`: the list's schema) by path element, the first duplicate winning."""
    out: dict[str, Any] = {}
    for i, item in enumerate(items or []):
        out.setdefault(item_element(node, item, i), item)
    return out


# ---- field sets --------------------------------------------------------------------------

def field_set(resource: str, obj: Obj) -> FieldSet:
    """ToFieldSet: every field an applied configuration sets (list items marked too)."""
    out: FieldSet = set()
    _to_set(root_node(resource), strip(obj), (), out)
    return out - {("f:metadata",)}


def _to_set(node: Obj | None, value: Any, path: Path, out: FieldSet) -> None:
    if _is_leaf(node, value):
        out.add(path)
    elif isinstance(value, dict):
        for key, child in value.items():
            sub = path + ("f:" + key,)
            _to_set(_child(node, key), child, sub, out)
            if child is None or child == {} or not _declared(node, key):
                out.add(sub)
    else:
        for element, item in _indexed(node, value).items():
            _to_set(_items(node), item, path + (element,), out)
            out.add(path + (element,))


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=set)
    modified: FieldSet = field(default_factory=set)
    removed: FieldSet = field(default_factory=set)

    def changed(self) -> FieldSet:
        return self.added | self.modified

    def without(self, prefixes: Iterable[str]) -> Comparison:
        return Comparison(*(without(s, prefixes) for s in (self.added, self.modified,
                                                             self.removed)))


def compare(resource: str, old: Obj, new: Obj) -> Comparison:
    """What changed between two objects, field by field (typed.Compare)."""
    result = Comparison()
    _compare(root_node(resource), strip(old), strip(new), (), result)
    return _unmark_metadata(result)


def _unmark_metadata(result: Comparison) -> Comparison:
    for paths in (result.added, result.modified, result.removed):
        paths.discard(("f:metadata",))
    return result


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _compare(node: Obj | None, lhs: Any, rhs: Any, path: Path, result: Comparison) -> None:
    if lhs is not None and lhs == rhs:
        return  # an unchanged subtree (a status write leaves the spec as it was) adds nothing
    value = rhs if rhs is not None else lhs
    same_shape = lhs is None or rhs is None or type(lhs) is type(rhs)
    if not same_shape or _is_leaf(node, value) or (_empty(lhs) and _empty(rhs)):
        _compare_leaf(lhs, rhs, path, result)
        return
    if isinstance(value, dict):
        left, right = lhs or {}, rhs or {}
        for key in dict.fromkeys([*left, *right]):
            _compare(_child(node, key), left.get(key), right.get(key), path + ("f:" + key,),
                     result)
    else:
        left, right = _indexed(node, lhs), _indexed(node, rhs)
        for element in dict.fromkeys([*left, *right]):
            _compare(_items(node), left.get(element), right.get(element), path + (element,),
                     result)
    if lhs is None:
        result.added.add(path)
    elif rhs is None:
        result.removed.add(path)


def _compare_leaf(lhs: Any, rhs: Any, path: Path, result: Comparison) -> None:
    if lhs is None and rhs is None:
        return
    if lhs is None:
        result.added.add(path)
    elif rhs is None:
        result.removed.add(path)
    elif _compact(lhs) != _compact(rhs):
        result.modified.add(path)


def without(paths: FieldSet, prefixes: Iterable[str]) -> FieldSet:
    """RecursiveDifference with top-level fields (`f:status`)."""
    prefixes = tuple(prefixes)
    return {p for p in paths if not (p and p[0] in prefixes)}


def strip(obj: Obj | None) -> Obj:
    """The object as the field manager sees it: no apiVersion, kind or server-owned metadata."""
    out = {k: v for k, v in (obj or {}).items() if k not in ("apiVersion", "kind")}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k not in STRIPPED_META}
    return out


def empty_object(resource: str) -> Obj:
    return {"metadata": {}, **copy.deepcopy(EMPTY_OBJECTS.get(resource, {}))}


# ---- FieldsV1 ----------------------------------------------------------------------------

def encode_fields(paths: FieldSet) -> Obj:
    """The FieldsV1 tree of a set: `.: {}` marks a member that also has members below."""
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node and path:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: Obj) -> Obj:
    return {k: _sorted_tree(tree[k]) for k in sorted(tree, key=lambda k: (k != ".", k))}


def decode_fields(tree: Any, prefix: Path = ()) -> FieldSet:
    if not isinstance(tree, dict):
        raise ValueError("FieldsV1 must be an object")
    out: FieldSet = set()
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
        elif not isinstance(child, dict) or key[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"invalid FieldsV1 key {key!r}")
        elif not child:
            out.add(prefix + (key,))
        else:
            out |= decode_fields(child, prefix + (key,))
    return out


def path_string(path: Path) -> str:
    """fieldpath.Path.String(): `.spec.containers[name="c"].image`."""
    return "".join(_element_string(e) for e in path)


def _element_string(element: str) -> str:
    kind, text = element[:2], element[2:]
    if kind == "f:":
        return "." + text
    if kind == "k:":
        keys = json.loads(text)
        return "[" + ",".join(f"{k}={json.dumps(keys[k])}" for k in sorted(keys)) + "]"
    if kind == "v:":
        return f"[={text}]"
    return f"[{text}]"


# ---- managers ----------------------------------------------------------------------------

@dataclass
class Manager:
    """One managedFields entry."""

    manager: str
    operation: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""
    api_version: str = API_VERSION

    @property
    def key(self) -> tuple[str, str, str]:
        return self.manager, self.operation, self.subresource

    def describe(self) -> str:
        """printManager: how a conflict names this manager."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_entry(self) -> Obj:
        entry: Obj = {"manager": self.manager, "operation": self.operation,
                      "apiVersion": self.api_version}
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = encode_fields(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def decode_managers(entries: Any) -> list[Manager]:
    """The entries of metadata.managedFields; ValueError when they are malformed."""
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    out: dict[tuple[str, str, str], Manager] = {}
    for e in entries:
        if not isinstance(e, dict) or e.get("operation") not in (APPLY, UPDATE) \
                or e.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError("invalid managedFields entry")
        m = Manager(str(e.get("manager", "")), e["operation"], decode_fields(
            e.get("fieldsV1") or {}), e.get("time"), e.get("subresource") or "",
            e.get("apiVersion") or API_VERSION)
        if m.key in out:
            out[m.key].fields |= m.fields
        else:
            out[m.key] = m
    return list(out.values())


def encode_managers(managers: list[Manager]) -> list[Obj]:
    """Non-empty entries, sorted as the API server sorts them (operation, time, manager)."""
    kept = [m for m in managers if m.fields]
    kept.sort(key=lambda m: (m.operation, m.time or "", m.manager, m.api_version,
                             m.subresource))
    return [m.to_entry() for m in kept]


def _managers_of(obj: Obj | None) -> list[Manager]:
    try:
        return decode_managers(((obj or {}).get("metadata") or {}).get("managedFields") or [])
    except (ValueError, KeyError, TypeError):
        return []


def _find(managers: list[Manager], key: tuple[str, str, str]) -> Manager | None:
    return next((m for m in managers if m.key == key), None)


# ---- Update ------------------------------------------------------------------------------

def updated(resource: str, live: Obj | None, new: Obj, manager: str, now: str,
            subresource: str = "") -> list[Obj]:
    """managedFields after `manager` wrote `new` over `live` (None on create)."""
    managers = _managers_of(new) if not subresource else []
    if not managers:
        managers = _managers_of(live)
    ignored = RESET_FIELDS.get((resource, subresource), ())
    changes = compare(resource, live or empty_object(resource), new).without(ignored)
    _take_away(managers, changes.changed() | changes.removed, exclude=None)
    if changes.changed():
        own = _find(managers, (manager, UPDATE, subresource))
        if own is None:
            own = Manager(manager, UPDATE, set(), subresource=subresource)
            managers.append(own)
        own.fields |= changes.changed()
        own.time = now
    return encode_managers(managers)


def _take_away(managers: list[Manager], paths: FieldSet,
               exclude: tuple[str, str, str] | None) -> None:
    for m in managers:
        if m.key != exclude:
            m.fields -= paths


# ---- Apply -------------------------------------------------------------------------------

def apply(resource: str, live: Obj | None, config: Obj, manager: str, force: bool,
          now: str, subresource: str = "") -> tuple[Obj, list[Obj]]:
    """Merge an applied configuration into the live object (None: not there yet).

    Returns the new object (managedFields not set) and its managedFields; a field owned by
    another manager with a different value is a 409 Conflict unless `force`.
    """
    live_obj = live if live is not None else empty_object(resource)
    managers = _managers_of(live)
    key = (manager, APPLY, subresource)
    ignored = RESET_FIELDS.get((resource, subresource), ())
    applied = without(field_set(resource, config), ignored)
    previous = _find(managers, key)
    last = previous.fields if previous else set()
    merged = merge(resource, live_obj, config)
    if previous is None:
        previous = Manager(manager, APPLY, set(), subresource=subresource)
        managers.append(previous)
    previous.fields = applied
    merged = prune(resource, merged, _released(resource, merged, last, managers))
    changes = compare(resource, live_obj, merged).without(ignored)
    conflicts = [(m, sorted(m.fields & changes.changed())) for m in managers if m.key != key]
    conflicts = [(m, paths) for m, paths in conflicts if paths]
    if conflicts and not force:
        raise conflict_error(conflicts)
    _take_away(managers, changes.changed() | changes.removed, exclude=key)
    previous.time = now
    return merged, encode_managers(managers)


def _released(resource: str, merged: Obj, last: FieldSet, managers: list[Manager]) -> FieldSet:
    """Fields the applier owned before and nobody owns now (prune, addBackOwnedItems and
    addBackDanglingItems): only fields of the object that own nothing still owned below."""
    owned = set().union(*(m.fields for m in managers))
    candidates = last - owned
    if not candidates:
        return set()
    present = field_set(resource, merged)
    owned_parents = {p[:i] for p in owned for i in range(1, len(p))}
    return {p for p in candidates if p in present and p not in owned_parents}


def merge(resource: str, live: Obj, config: Obj) -> Obj:
    """The live object with the configuration merged in (typed.Merge)."""
    merged = _merge(root_node(resource), live, config)
    return merged if isinstance(merged, dict) else {}


def _merge(node: Obj | None, lhs: Any, rhs: Any) -> Any:
    if rhs is None:
        return copy.deepcopy(lhs)
    if lhs is None or type(lhs) is not type(rhs) or _is_leaf(node, rhs):
        return copy.deepcopy(rhs)
    if isinstance(rhs, dict):
        out = copy.deepcopy(lhs)
        for key, value in rhs.items():
            out[key] = _merge(_child(node, key), lhs.get(key), value)
        return out
    left, right = _indexed(node, lhs), _indexed(node, rhs)
    out_items = [_merge(_items(node), item, right.get(e)) for e, item in left.items()]
    return out_items + [copy.deepcopy(item) for e, item in right.items() if e not in left]


def prune(resource: str, obj: Obj, paths: FieldSet) -> Obj:
    """Remove the given fields and items (with everything below them) from the object."""
    if not paths:
        return obj
    prefixes = {p[:i] for p in paths for i in range(1, len(p))}
    pruned: Obj = _prune(root_node(resource), obj, (), paths, prefixes)
    return pruned


def _prune(node: Obj | None, value: Any, path: Path, paths: FieldSet,
           prefixes: FieldSet) -> Any:
    if path and path not in prefixes:
        return value
    if isinstance(value, dict):
        return {k: _prune(_child(node, k), v, path + ("f:" + k,), paths, prefixes)
                for k, v in value.items() if path + ("f:" + k,) not in paths}
    if isinstance(value, list) and not _is_leaf(node, value):
        elements = [(item_element(node, item, i), item) for i, item in enumerate(value)]
        return [_prune(_items(node), item, path + (e,), paths, prefixes)
                for e, item in elements if path + (e,) not in paths]
    return value


def conflict_error(conflicts: list[tuple[Manager, list[Path]]]) -> errors.ConflictError:
    """NewConflictError: one cause per field, the message as the API server words it."""
    flat = [(m, p) for m, paths in sorted(conflicts, key=lambda c: c[0].describe())
            for p in paths]
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m.describe()}",
               "field": path_string(p)} for m, p in flat]
    if len(flat) == 1:
        m, p = flat[0]
        message = f"Apply failed with 1 conflict: conflict with {m.describe()}: {path_string(p)}"
    else:
        lines = []
        for m, paths in sorted(conflicts, key=lambda c: c[0].describe()):
            lines.append(f"conflicts with {m.describe()}:")
            lines += [f"- {path_string(p)}" for p in paths]
        message = f"Apply failed with {len(flat)} conflicts: " + "\n".join(lines)
    return errors.ConflictError(message, details={"causes": causes})


def manager_name(field_manager: str | None, user_agent: str | None) -> str:
    """managerOrUserAgent: the fieldManager, else the User-Agent up to its first `/`."""
    if field_manager:
        return field_manager
    prefix = (user_agent or "").split("/", 1)[0]
    return "".join(ch for ch in prefix if ch.isprintable())[:128]
