"""CEL for `x-kubernetes-validations`, on `cel-expr-python` (Google's cel-cpp runtime).

One environment declares `self` and `oldSelf` (dynamic) plus Kubernetes' CEL libraries used by
real CRDs: the extended strings library (charAt, indexOf, lastIndexOf, lowerAscii, upperAscii,
replace, split, substring, trim, join, reverse), lists (isSorted, sum, min, max, indexOf,
lastIndexOf), regex (find, findAll), and the format checks isURL, isIP, isCIDR, isQuantity.
Programs are compiled once per rule text and cached.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional

from podhost.api import quantity

T = cel.Type
_LIST = T.List(T.DYN)
_STRINGS = T.List(T.STRING)
_SCALARS = (("int", T.INT), ("string", T.STRING), ("double", T.DOUBLE), ("bool", T.BOOL))
# the per-expression cost budget stands in for upstream's estimated cost: rules longer than
# this are refused at CRD creation
MAX_RULE_LENGTH = 8192


class CompileError(Exception):
    """The rule does not compile: the text is cel-cpp's (`ERROR: <input>:1:5: ...`)."""


@dataclass(frozen=True)
class Result:
    ok: bool
    error: str = ""  # the runtime error when evaluation failed
    value: Any = None


def _ov(name: str, ret: Any, params: list[Any], impl: Callable[..., Any],
        member: bool = True) -> Any:
    return cel.Overload(name, ret, params, is_member=member, impl=impl)


def _list_index(items: list[Any], value: Any) -> int:
    return items.index(value) if value in items else -1


def _list_last_index(items: list[Any], value: Any) -> int:
    return len(items) - 1 - items[::-1].index(value) if value in items else -1


def _split(s: str, sep: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    return s.split(sep, limit - 1 if limit > 0 else -1) if sep else list(s)[:limit] \
        if limit > 0 else list(s)


def _is_url(s: str) -> bool:
    try:
        parts = urlsplit(s)
    except ValueError:
        return False
    return bool(parts.scheme) or s.startswith("/")


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return "%" not in s


def _is_cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


def _is_quantity(s: str) -> bool:
    try:
        quantity.parse(s)
    except (ValueError, ArithmeticError):
        return False
    return True


def _find_all(s: str, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in re.finditer(pattern, s)]
    return found if limit < 0 else found[:limit]


def _declarations() -> list[Any]:
    s, i = T.STRING, T.INT
    decls: dict[str, list[Any]] = {
        "charAt": [_ov("string_char_at_int", s, [s, i],
                       lambda v, n: v[n] if n < len(v) else "")],
        "indexOf": [_ov("string_index_of_string", i, [s, s], lambda v, x: v.find(x)),
                    _ov("string_index_of_string_int", i, [s, s, i],
                        lambda v, x, n: v.find(x, n))],
        "lastIndexOf": [_ov("string_last_index_of_string", i, [s, s], lambda v, x: v.rfind(x))],
        "lowerAscii": [_ov("string_lower_ascii", s, [s], lambda v: v.lower())],
        "upperAscii": [_ov("string_upper_ascii", s, [s], lambda v: v.upper())],
        "replace": [_ov("string_replace_string_string", s, [s, s, s],
                        lambda v, a, b: v.replace(a, b)),
                    _ov("string_replace_string_string_int", s, [s, s, s, i],
                        lambda v, a, b, n: v.replace(a, b, n))],
        "split": [_ov("string_split_string", _STRINGS, [s, s], _split),
                  _ov("string_split_string_int", _STRINGS, [s, s, i], _split)],
        "substring": [_ov("string_substring_int", s, [s, i], lambda v, a: v[a:]),
                      _ov("string_substring_int_int", s, [s, i, i], lambda v, a, b: v[a:b])],
        "trim": [_ov("string_trim", s, [s], lambda v: v.strip())],
        "reverse": [_ov("string_reverse", s, [s], lambda v: v[::-1])],
        "join": [_ov("list_join", s, [_STRINGS], lambda v: "".join(v)),
                 _ov("list_join_string", s, [_STRINGS, s], lambda v, sep: sep.join(v))],
        "find": [_ov("string_find_string", s, [s, s],
                     lambda v, p: m.group(0) if (m := re.search(p, v)) else "")],
        "findAll": [_ov("string_find_all_string", _STRINGS, [s, s], _find_all),
                    _ov("string_find_all_string_int", _STRINGS, [s, s, i], _find_all)],
        "isSorted": [_ov("list_is_sorted", T.BOOL, [_LIST],
                         lambda v: all(a <= b for a, b in zip(v, v[1:], strict=False)))],
        "sum": [_ov("list_sum", T.DYN, [_LIST], lambda v: sum(v))],
        "min": [_ov("list_min", T.DYN, [_LIST], lambda v: min(v))],
        "max": [_ov("list_max", T.DYN, [_LIST], lambda v: max(v))],
        "isURL": [_ov("is_url_string", T.BOOL, [s], _is_url, member=False)],
        "isIP": [_ov("is_ip_string", T.BOOL, [s], _is_ip, member=False)],
        "isCIDR": [_ov("is_cidr_string", T.BOOL, [s], _is_cidr, member=False)],
        "isQuantity": [_ov("is_quantity_string", T.BOOL, [s], _is_quantity, member=False)],
    }
    for name, typ in _SCALARS:
        decls["indexOf"].append(_ov(f"list_index_of_{name}", i, [_LIST, typ], _list_index))
        decls["lastIndexOf"].append(_ov(f"list_last_index_of_{name}", i, [_LIST, typ],
                                        _list_last_index))
    return [cel.FunctionDecl(name, overloads) for name, overloads in decls.items()]


RULE_VARIABLES = ("self", "oldSelf")
# optionalOldSelf: oldSelf is bound as a CEL optional around the rule (cel.bind)
OPTIONAL_OLD = "podhostOldSelf"
OPTIONAL_RULE_VARIABLES = ("self", OPTIONAL_OLD)
# ValidatingAdmissionPolicy and webhook matchConditions
ADMISSION_VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject",
                       "variables")


@functools.cache
def _env(variables: tuple[str, ...]) -> Any:
    return cel.NewEnv(variables=dict.fromkeys(variables, T.DYN), functions=_declarations(),
                      extensions=[ext_optional.ExtOptional(), ext_bindings.ExtBindings()])


@functools.lru_cache(maxsize=4096)
def compile_rule(rule: str, variables: tuple[str, ...] = RULE_VARIABLES) -> Any:
    """The compiled program of `rule`; CompileError with cel-cpp's message."""
    if len(rule) > MAX_RULE_LENGTH:
        raise CompileError(f"rule is longer than {MAX_RULE_LENGTH} characters")
    try:
        return _env(variables).compile(rule)
    except RuntimeError as e:
        text = str(e).removeprefix("INVALID_ARGUMENT: ").removesuffix(" [INVALID_ARGUMENT]")
        raise CompileError(text) from None


def uses_old_self(rule: str) -> bool:
    """A transition rule: it reads `oldSelf`."""
    return re.search(r"\boldSelf\b", rule) is not None


def optional_old_self(rule: str, has_old: bool) -> str:
    """`rule` with `oldSelf` bound as an optional: `optional.of(the old value)` on an update
    where one correlates, `optional.none()` otherwise (optionalOldSelf: true)."""
    bound = f"optional.of({OPTIONAL_OLD})" if has_old else "optional.none()"
    return f"cel.bind(oldSelf, {bound}, ({rule}))"


def evaluate(rule: str, self_value: Any, old_self: Any = None, optional: bool = False,
             has_old: bool = False) -> Result:
    """Run `rule` with `self` (and `oldSelf`; an optional one when `optional`)."""
    data = {"self": self_value}
    if optional:
        data[OPTIONAL_OLD] = old_self
        return run(optional_old_self(rule, has_old), data, OPTIONAL_RULE_VARIABLES)
    if old_self is not None:
        data["oldSelf"] = old_self
    return run(rule, data, RULE_VARIABLES)


def run(expression: str, data: dict[str, Any], variables: tuple[str, ...]) -> Result:
    """Evaluate `expression` over `data` in the environment declaring `variables`."""
    value = compile_rule(expression, variables).eval(data=data)
    plain = value.plain_value()
    if value.type() == T.ERROR:
        return Result(False, _runtime_error(str(plain)))
    return Result(plain is True, value=plain)


def _runtime_error(text: str) -> str:
    """cel-cpp's status text as cel-go words it (`no such key: x`)."""
    if m := re.match(r'NOT_FOUND: Key not found in map : "(.*)"', text):
        return f"no such key: {m.group(1)}"
    return re.sub(r"^[A-Z_]+: ", "", text)
