"""`x-kubernetes-validations` over a custom object, as apiextensions-apiserver's
schema/cel/validation.go runs them: each rule with `self` bound to the value at its schema
node, transition rules (those reading `oldSelf`) only where an old value correlates (object
fields, map entries, list-type=map items by key), errors at the node's path (plus `fieldPath`)
with the rule's message, `messageExpression` or `failed rule: <rule>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from podhost.api import errors
from podhost.api.apiextensions import cel
from podhost.api.apiextensions.structural import child
from podhost.api.errors import FieldError
from podhost.api.types import Obj

_MISSING = object()


def validate(schema: Obj, new: Any, old: Any = _MISSING, path: str = "") -> list[FieldError]:
    """The rule failures of `new` (an update when `old` is given)."""
    return list(_walk(schema, new, old, path))


def _walk(node: Obj, value: Any, old: Any, path: str) -> Iterator[FieldError]:
    if value is None:
        return
    yield from _rules(node, value, old, path)
    if isinstance(value, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, sub in value.items():
            sub_node = props.get(key) or (extra if isinstance(extra, dict) else None)
            if sub_node is not None:
                yield from _walk(sub_node, sub, old_map.get(key, _MISSING), child(path, key))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        olds = _correlated_items(node, old)
        for i, item in enumerate(value):
            yield from _walk(node["items"], item, olds(item), f"{path}[{i}]")


def _correlated_items(node: Obj, old: Any) -> Any:
    """item -> its old item: only list-type=map lists correlate (by their keys)."""
    keys = node.get("x-kubernetes-list-map-keys") or []
    if node.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return lambda _item: _MISSING
    by_key = {json.dumps([o.get(k) for k in keys]): o for o in old if isinstance(o, dict)}
    return lambda item: by_key.get(json.dumps([item.get(k) for k in keys]), _MISSING) \
        if isinstance(item, dict) else _MISSING


def _rules(node: Obj, value: Any, old: Any, path: str) -> Iterator[FieldError]:
    for rule in node.get("x-kubernetes-validations") or []:
        text = rule.get("rule", "")
        transition = cel.uses_old_self(text)
        optional = bool(rule.get("optionalOldSelf")) and transition
        if transition and old is _MISSING and not optional:
            continue
        old_value = None if old is _MISSING else old
        result = cel.evaluate(text, value, old_value if transition else None, optional,
                              old is not _MISSING)
        if result.ok:
            continue
        where = path + rule.get("fieldPath", "") if rule.get("fieldPath") else path
        if result.error:
            yield errors.invalid(where, _type(node), result.error)
            continue
        yield _error(rule, where, _type(node),
                     _message(rule, value, old_value, optional, old is not _MISSING))


def _type(node: Obj) -> str:
    return str(node.get("type") or ("integer" if node.get("x-kubernetes-int-or-string")
                                    else "object"))


def _message(rule: Obj, value: Any, old: Any, optional: bool, has_old: bool) -> str:
    if rule.get("messageExpression"):
        try:
            result = cel.evaluate(rule["messageExpression"], value, old, optional, has_old)
        except cel.CompileError:
            result = cel.Result(False)
        if isinstance(result.value, str) and result.value.strip():
            return result.value
    if rule.get("message"):
        return str(rule["message"])
    return f"failed rule: {rule.get('rule', '').strip()}"


def _error(rule: Obj, path: str, type_name: str, message: str) -> FieldError:
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueRequired":
        return errors.required(path, message)
    if reason == "FieldValueForbidden":
        return errors.forbidden(path, message)
    if reason == "FieldValueDuplicate":
        return FieldError("FieldValueDuplicate", path, message, type_name, True)
    return errors.invalid(path, type_name, message)


def compile_errors(schema: Obj, path: str) -> list[FieldError]:
    """Rules of a CRD schema that do not compile, at the schema path of each rule."""
    return list(_compile_walk(schema, path))


def _compile_walk(node: Any, path: str) -> Iterator[FieldError]:
    if not isinstance(node, dict):
        return
    for i, rule in enumerate(node.get("x-kubernetes-validations") or []):
        where = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(rule, dict) or not rule.get("rule"):
            yield errors.required(f"{where}.rule", "")
            continue
        for key in ("rule", "messageExpression"):
            if rule.get(key):
                try:
                    if rule.get("optionalOldSelf"):
                        cel.compile_rule(cel.optional_old_self(rule[key], True),
                                         cel.OPTIONAL_RULE_VARIABLES)
                    else:
                        cel.compile_rule(rule[key])
                except cel.CompileError as e:
                    yield errors.invalid(f"{where}.{key}", rule[key],
                                         f"compilation failed: {e}")
        if rule.get("optionalOldSelf") and not cel.uses_old_self(rule["rule"]):
            yield errors.invalid(f"{where}.optionalOldSelf", True,
                                 "may only be set to true for transition rules (rules that "
                                 "refer to oldSelf)")
        if rule.get("reason") not in (None, "FieldValueInvalid", "FieldValueForbidden",
                                      "FieldValueRequired", "FieldValueDuplicate"):
            yield errors.not_supported(f"{where}.reason", rule["reason"],
                                       ["FieldValueDuplicate", "FieldValueForbidden",
                                        "FieldValueInvalid", "FieldValueRequired"])
    for key, sub in (node.get("properties") or {}).items():
        yield from _compile_walk(sub, f"{path}.properties[{key}]")
    if isinstance(node.get("items"), dict):
        yield from _compile_walk(node["items"], f"{path}.items")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _compile_walk(node["additionalProperties"], f"{path}.additionalProperties")
