"""Output formats of kubectl: server-side Tables, yaml, json, name and jsonpath. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

PADDING = 3


# ---- tables -----------------------------------------------------------------------------

def layout(rows: list[list[str]]) -> str:
    """Columns padded to the widest cell + 3 spaces (kubectl's tabwriter); no trailing blanks."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.ljust(w + PADDING) for c, w in zip(row[:-1], widths)] + [row[-1]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def cell_text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def table_rows(table: dict[str, Any], wide: bool = False, all_namespaces: bool = False,
               headers: bool = True, show_labels: bool = False, kind: str = ""
               ) -> list[list[str]]:
    """Header and rows of a meta.k8s.io Table, priority > 0 columns only with -o wide; with
    `kind` the names read `kind/name`, as kubectl prints several types."""
    columns = [(i, c) for i, c in enumerate(table.get("columnDefinitions") or [])
               if wide or not c.get("priority")]
    out = []
    if headers and columns:
        head = [c["name"].upper() for _, c in columns]
        out.append((["NAMESPACE"] if all_namespaces else []) + head
                   + (["LABELS"] if show_labels else []))
    for row in table.get("rows") or []:
        meta = (row.get("object") or {}).get("metadata") or {}
        cells = row.get("cells") or []
        line = [cell_text(cells[i]) if i < len(cells) else "" for i, _ in columns]
        if kind and columns and columns[0][1].get("name") == "Name":
            line[0] = f"{kind}/{line[0]}"
        ns = [meta.get("namespace", "")] if all_namespaces else []
        labels = [format_labels(meta.get("labels"))] if show_labels else []
        out.append(ns + line + labels)
    return out


def format_labels(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def objects_table(items: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """A NAME/AGE Table for a server that does not answer as=Table (kubectl's fallback)."""
    return {"columnDefinitions": [{"name": "Name", "type": "string"},
                                  {"name": "Age", "type": "string"}],
            "rows": [{"cells": [o["metadata"]["name"],
                                age(o["metadata"].get("creationTimestamp"), now)],
                      "object": {"metadata": o["metadata"]}} for o in items]}


# ---- durations ---------------------------------------------------------------------------

def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(timestamp: str | None, now: datetime | None = None) -> str:
    t = parse_time(timestamp)
    if t is None:
        return "<unknown>"
    from podhost.api import meta  # not at import time: `podhost get` starts without podhost.api
    return meta.human_age(((now or datetime.now(timezone.utc)) - t).total_seconds())


def event_interval(e: dict[str, Any], now: datetime | None = None) -> str:
    """The AGE of `kubectl describe` and LAST SEEN of `kubectl events` (getInterval):
    `10s (x3 over 40s)` for an event seen more than once, else the age of its first sighting."""
    first = age(e.get("eventTime"), now) if e.get("eventTime") \
        else age(e.get("firstTimestamp"), now)
    series = e.get("series")
    if series:
        last = age(series.get("lastObservedTime"), now)
        return f"{last} (x{series.get('count', 0)} over {first})"
    if (e.get("count") or 0) > 1:
        return f"{age(e.get('lastTimestamp'), now)} (x{e['count']} over {first})"
    return first


# ---- yaml / json / name ------------------------------------------------------------------

def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"


def to_yaml(obj: Any) -> str:
    import yaml
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True, allow_unicode=True)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}}


def name_of(obj: dict[str, Any], resource_singular: str) -> str:
    return f"{resource_singular}/{obj['metadata']['name']}"


# ---- jsonpath ----------------------------------------------------------------------------

_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")


class JsonPathError(ValueError):
    pass


def jsonpath(template: str, data: Any) -> str:
    """kubectl's jsonpath subset: {.a.b}, [n], [*], [?(@.k=="v")], {range …}{end}, {"lit"}."""
    template = template.strip()
    if template and "{" not in template:
        template = "{" + template + "}"
    parts = _split(template)
    out, _ = _render(parts, 0, data)
    return out


def _split(template: str) -> list[tuple[str, str]]:
    parts, pos = [], 0
    for m in _TOKEN.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos:m.start()]))
        parts.append(("expr", m.group(1).strip()))
        pos = m.end()
    if pos < len(template):
        parts.append(("text", template[pos:]))
    return parts


def _render(parts: list[tuple[str, str]], i: int, data: Any) -> tuple[str, int]:
    out: list[str] = []
    while i < len(parts):
        kind, value = parts[i]
        if kind == "text":
            out.append(value)
        elif value == "end":
            return "".join(out), i
        elif value.startswith("range "):
            items = evaluate(value[6:].strip(), data)
            end = i
            for item in items:
                text, end = _render(parts, i + 1, item)
                out.append(text)
            if not items:
                _, end = _render(parts, i + 1, None)
            i = end
        elif value.startswith('"'):
            out.append(json.loads(value))
        else:
            out.append(" ".join(_scalar(v) for v in evaluate(value, data)))
        i += 1
    return "".join(out), i


def _scalar(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, bool):
        return str(v).lower()
    return "" if v is None else str(v)


_STEP = re.compile(r"\.\.([A-Za-z0-9_\-/]+)?"  # ..name: recursive descent
                   r"|\.([A-Za-z0-9_\-/]+|\*)"  # .name or .*
                   r"|\[(\*|-?\d+|-?\d*:-?\d*|\?\([^\]]*\)|'[^']*')\]")  # [*] [i] [a:b] [?()] ['k']


def evaluate(path: str, data: Any) -> list[Any]:
    if path in ("", "@", "$"):
        return [data]
    path = path[1:] if path.startswith(("$", "@")) else path
    values, pos = [data], 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise JsonPathError(f"unrecognized identifier {path[pos:]}")
        values = [r for v in values for r in _step(m, v)]
        pos = m.end()
    return values


def _step(m: re.Match[str], value: Any) -> list[Any]:
    key, index = m.group(2), m.group(3)
    if m.group(0).startswith(".."):
        found = list(_descend(value))
        name = m.group(1)
        return [f[name] for f in found if isinstance(f, dict) and name in f] if name else found
    if key is not None:
        if key == "*":
            return list(value.values()) if isinstance(value, dict) else \
                list(value) if isinstance(value, list) else []
        return [value[key]] if isinstance(value, dict) and key in value else []
    if index.startswith("'"):
        return [value[index[1:-1]]] if isinstance(value, dict) and index[1:-1] in value else []
    if not isinstance(value, list):
        return []
    if index == "*":
        return list(value)
    if index.startswith("?("):
        return [v for v in value if _matches(index[2:-1], v)]
    if ":" in index:
        a, b = (int(x) if x else None for x in index.split(":", 1))
        return value[a:b]
    n = int(index)
    return [value[n]] if -len(value) <= n < len(value) else []


def _descend(value: Any) -> Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value \
        if isinstance(value, list) else []
    for child in children:
        yield from _descend(child)


_FILTER = re.compile(r"^\s*(@[^=!<>\s]*)\s*(==|!=)\s*(.+?)\s*$")


def _matches(expr: str, item: Any) -> bool:
    m = _FILTER.match(expr)
    if not m:
        return bool(evaluate(expr.strip(), item))
    left = evaluate(m.group(1), item)
    raw = m.group(3)
    right = raw[1:-1] if raw[:1] in "'\"" else json.loads(raw) if raw[:1].isdigit() else raw
    equal = bool(left) and left[0] == right
    return equal if m.group(2) == "==" else not equal
