"""Reading manifests (`-f FILE|DIR|-`, `-R`) and client-side apply's three-way patch. Pure."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podhost.cli.errors import CliError

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
EXTENSIONS = (".yaml", ".yml", ".json")


def manifest_files(name: str, recursive: bool = False) -> list[str]:
    if name == "-":
        return ["-"]
    path = Path(name)
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(str(p) for p in path.glob(pattern) if p.suffix in EXTENSIONS)
    if not path.exists():
        raise CliError(f"error: the path \"{name}\" does not exist")
    return [name]


def yaml_error(e: Exception) -> str:
    """kubectl's words for a YAML syntax error: `error converting YAML to JSON: yaml: line N:
    problem` (never the parser's "<unicode string>")."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"error converting YAML to JSON: yaml: {where}{problem}"


def read_documents(source: str) -> Iterator[dict[str, Any]]:
    """Objects in a file (or stdin), `List`s flattened, empty documents skipped."""
    import yaml

    from podhost import yamljson
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        docs = list(yamljson.load_all(text))
    except yaml.YAMLError as e:
        raise CliError(f"error: error parsing {'STDIN' if source == '-' else source}: "
                       f"{yaml_error(e)}") from e
    for doc in docs:
        if not doc:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise CliError(f"error: error validating \"{source}\": error validating data: "
                           "kind not set")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            yield from doc["items"]
        else:
            yield doc


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """The object plus the annotation holding its own JSON, as `kubectl apply` sends it."""
    copy = json.loads(json.dumps(obj))
    copy.get("metadata", {}).get("annotations", {}).pop(LAST_APPLIED, None)
    text = json.dumps(copy, separators=(",", ":"), sort_keys=True) + "\n"
    out: dict[str, Any] = json.loads(json.dumps(obj))
    out.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = text
    return out


def last_applied(live: dict[str, Any]) -> dict[str, Any]:
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def three_way_patch(last: Any, desired: Any, live: Any) -> dict[str, Any]:
    """A merge patch: set what desired changes against live, null what desired dropped since last.

    Lists of named objects are sent whole (a strategic merge patch merges them by name)."""
    patch: dict[str, Any] = {}
    last = last if isinstance(last, dict) else {}
    live = live if isinstance(live, dict) else {}
    for key, value in desired.items():
        if isinstance(value, dict) and isinstance(live.get(key), dict):
            sub = three_way_patch(last.get(key), value, live[key])
            if sub:
                patch[key] = sub
        elif live.get(key) != value and not _same_list(last.get(key), value, live.get(key)):
            patch[key] = value
    for key in last:
        if key not in desired and key in live:
            patch[key] = None
    return patch


MERGE_KEYS = ("name", "mountPath", "containerPort", "devicePath", "ip")


def _merge_key(items: list[Any]) -> str | None:
    for key in MERGE_KEYS:
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def _same_list(last: Any, desired: Any, live: Any) -> bool:
    """Lists merged by key are unchanged when each desired item is a subset of its live twin."""
    if not (isinstance(desired, list) and isinstance(live, list)) or len(desired) != len(live):
        return False
    key = _merge_key(desired)
    if key is None or [d[key] for d in desired] != [x.get(key) for x in live]:
        return False
    old = {i.get(key): i for i in last} if isinstance(last, list) else {}
    return all(not three_way_patch(old.get(d[key]), d, x) for d, x in zip(desired, live))
