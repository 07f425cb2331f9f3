"""Walking a Pod's containers (k8s.io/kubernetes/pkg/api/pod's VisitContainers, pure)."""

from __future__ import annotations

from podhost.api.types import Obj


def all_containers(pod: Obj) -> list[Obj]:
    """Init containers, then app containers, in spec order."""
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def container_by_name(pod: Obj, name: str) -> Obj | None:
    """Init, app or ephemeral container `name` of the Pod."""
    ephemeral = (pod.get("spec") or {}).get("ephemeralContainers") or []
    return next((c for c in [*all_containers(pod), *ephemeral] if c.get("name") == name), None)
