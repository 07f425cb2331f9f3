"""What the checks share: the result type, the container visitor and upstream's wording
helpers (pluralize, joinQuote)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podhost.api.types import Obj


@dataclass(frozen=True, slots=True)
class Forbidden:
    """A failed check: its succinct reason and (optional) detail."""

    reason: str
    detail: str = ""


Result = Forbidden | None
CheckFn = Callable[[Obj, Obj], Result]  # (pod metadata, pod spec) -> result


@dataclass(frozen=True, slots=True)
class Version:
    minimum: tuple[int, int]
    check: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    level: str
    versions: list[Version] = field(default_factory=list)


def containers(spec: Obj) -> list[Obj]:
    """initContainers, containers, then ephemeralContainers (visitContainers)."""
    return [c for key in _CONTAINER_KEYS for c in spec.get(key) or () if isinstance(c, dict)]


_CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")


def security_context(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def sub(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def name(c: Obj) -> str:
    return str(c.get("name") or "")


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def containers_phrase(names: list[str]) -> str:
    """`container "a"` / `containers "a", "b"`."""
    return f'{pluralize("container", "containers", len(names))} {join_quote(names)}'


def setters(pod_bad: bool, bad_containers: list[str]) -> list[str]:
    """["pod", 'containers "a", "b"'], the parts that set a forbidden value."""
    out = ["pod"] if pod_bad else []
    if bad_containers:
        out.append(containers_phrase(bad_containers))
    return out


def is_windows(spec: Obj) -> bool:
    return sub(spec, "os").get("name") == "windows"


def user_namespaced(spec: Obj) -> bool:
    """relaxPolicyForUserNamespacePod: off in kube-apiserver unless the feature gate
    UserNamespacesPodSecurityStandards is on (it is not by default in 1.32)."""
    return False


def truthy(value: Any) -> bool:
    return value is True
