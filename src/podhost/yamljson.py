"""YAML read the way sigs.k8s.io/yaml turns it into JSON (what kubectl and kube-apiserver do):
timestamps stay strings, and keys that are not strings become strings (`1` → "1", `true` →
"true", `null` → "null"), so every document can be encoded as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader without the timestamp resolver (dates stay the strings they are)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _mapping(loader: Any, node: Any) -> dict[str, Any]:
    """A mapping whose keys are made strings as it is built (1 and true stay two keys)."""
    loader.flatten_mapping(node)
    return {_key(loader.construct_object(k, deep=True)): loader.construct_object(v, deep=True)
            for k, v in node.value}


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_all(text: str) -> Iterator[Any]:
    yield from yaml.load_all(text, Loader=_Loader)
