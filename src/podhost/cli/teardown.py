"""`podhost down --delete-pods`, inside the node: the controllers stop first (no ReplicaSet,
StatefulSet, DaemonSet or Job makes a replacement), then every Pod is deleted gracefully, as
`kubectl delete pods --all -A` would, and the node waits until the kubelet has torn each one
down (containers, mounts, hostPorts, addresses) before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from podhost.api import errors
from podhost.api.storage import ObjectStore

if TYPE_CHECKING:
    from podhost.registry.generic import Registry

log = logging.getLogger("podhost")

MARGIN = 15.0  # seconds beyond the longest grace period


def delete_every_pod(registry: Registry) -> float:
    """Delete every Pod as a client's DELETE does (graceful); returns the longest grace
    period given."""
    longest = 0.0
    pods, _ = registry.store.list("pods")
    for pod in pods:
        m = pod["metadata"]
        with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
            deleted = registry.delete("pods", m.get("namespace") or "", m["name"])
            grace = deleted["metadata"].get("deletionGracePeriodSeconds") or 0
            longest = max(longest, float(grace))
    log.info("deleting %d Pods before the node stops", len(pods))
    return longest


async def wait_no_pods(store: ObjectStore, timeout: float) -> list[str]:
    """Wait until no Pod is left; returns the names of those still there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        pods, _ = store.list("pods")
        if not pods or time.monotonic() >= deadline:
            return [f"{p['metadata'].get('namespace')}/{p['metadata']['name']}" for p in pods]
        await asyncio.sleep(0.1)


async def delete_pods_and_wait(registry: Registry) -> None:
    left = await wait_no_pods(registry.store, delete_every_pod(registry) + MARGIN)
    if left:
        log.warning("Pods not gone when the node stopped (finalizers?): %s", ", ".join(left))
