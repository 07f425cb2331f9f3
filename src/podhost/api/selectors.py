"""Label and field selectors: parsing (labels.Parse / fields.ParseSelector) and matching."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podhost.api import errors


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # "!=", "notin"


_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in (x.strip() for x in parts) if p]


def _parse_requirement(term: str) -> Requirement:
    m = _SET_RE.match(term)
    if m:
        values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
        return Requirement(m.group(1), m.group(2), values)
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if not key:
                break
            return Requirement(key, "!=" if op == "!=" else "=", (value,))
    if term.startswith("!"):
        return Requirement(term[1:].strip(), "!")
    if re.match(r"^[A-Za-z0-9_./-]+$", term):
        return Requirement(term, "exists")
    raise errors.BadRequestError(f"unable to parse requirement: {term!r}")


def parse_labels(text: str | None) -> list[Requirement]:
    return [_parse_requirement(t) for t in _split_top(text or "")]


def parse_fields(text: str | None) -> list[Requirement]:
    reqs = []
    for term in _split_top(text or ""):
        req = _parse_requirement(term)
        if req.op not in ("=", "!="):
            raise errors.BadRequestError(
                f"invalid selector: '{text}'; can't understand '{term}'")
        reqs.append(req)
    return reqs


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def selects_all(label_selector: str | None, field_selector: str | None) -> bool:
    """True when both selectors are empty: matcher() then accepts every object."""
    return not _split_top(label_selector or "") and not _split_top(field_selector or "")


def matcher(label_selector: str | None, field_selector: str | None,
            allowed_fields: frozenset[str] | None = None) -> Callable[[dict[str, Any]], bool]:
    """A predicate on objects; unknown field labels are refused as the API server does."""
    labels = parse_labels(label_selector)
    fields = parse_fields(field_selector)
    for req in fields:
        if allowed_fields is not None and req.key not in allowed_fields:
            known = ", ".join(sorted(allowed_fields))
            raise errors.BadRequestError(
                f'"{req.key}" is not a known field selector: only "{known}"')

    def match(obj: dict[str, Any]) -> bool:
        obj_labels = obj.get("metadata", {}).get("labels") or {}
        if not all(r.matches(obj_labels) for r in labels):
            return False
        return all(r.matches({r.key: _field_value(obj, r.key)}) for r in fields)

    return match
