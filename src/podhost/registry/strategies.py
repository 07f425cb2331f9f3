"""Each served resource's strategy, found by name: the module
`podhost.registry.<group>.<resource>` defines `strategy`; a resource without a module gets the
plain `Strategy` (a stored object with ObjectMeta validation only). Resources added at run
time (custom resources) register theirs.
"""

from __future__ import annotations

import importlib

from podhost.api import registry as table
from podhost.registry.strategy import Strategy

_LOADED: dict[str, Strategy] = {}


def package_of(group: str) -> str:
    """The folder of a group's strategies: `core` for the legacy group, else the group's first
    label (`rbac` for rbac.authorization.k8s.io)."""
    return group.split(".")[0] if group else "core"


def get(resource: str) -> Strategy:
    """The strategy of `resource` (KeyError when it is not served)."""
    found = _LOADED.get(resource)
    if found is not None:
        return found
    rtype = table.get(resource)
    if rtype is None:
        raise KeyError(resource)
    try:
        module = importlib.import_module(
            f"podhost.registry.{package_of(rtype.group)}.{resource}")
        strategy: Strategy = module.strategy
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("podhost.registry."):
            raise
        strategy = Strategy()
    strategy.type = rtype
    _LOADED[resource] = strategy
    return strategy


def register(resource: str, strategy: Strategy) -> None:
    """Serve `resource` (already in the table) with `strategy` (custom resources, tests)."""
    rtype = table.get(resource)
    if rtype is None:
        raise KeyError(resource)
    strategy.type = rtype
    _LOADED[resource] = strategy


def forget(resource: str) -> None:
    _LOADED.pop(resource, None)
