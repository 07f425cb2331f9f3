"""`podhost down --delete-pods`, inside the node: the controllers stop first (no ReplicaSet,
StatefulSet, DaemonSet or Job makes a replacement), then every Pod is deleted gracefully, as
`kubectl delete pods --all -A` would, and the node waits until the kubelet has torn each one
down (containers, mounts, hostPorts, addresses) before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from podhost.api import errors, strategy
from podhost.api.storage import ObjectStore

log = logging.getLogger("podhost")

MARGIN = 15.0  # seconds beyond the longest grace period


def delete_every_pod(store: ObjectStore) -> float:
    """Delete every Pod gracefully; returns the longest grace period given."""
    longest = 0.0
    pods, _ = store.list("pods")
    for pod in pods:
        m = pod["metadata"]
        with contextlib.suppress(errors.NotFoundError, errors.ConflictError):
            action = strategy.begin_delete("pods", pod, None)
            if action == "mark":
                store.update("pods", pod)
                longest = max(longest, float(m.get("deletionGracePeriodSeconds") or 0))
            elif action == "gone":
                store.delete("pods", m.get("namespace") or "", m["name"])
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


async def delete_pods_and_wait(store: ObjectStore) -> None:
    left = await wait_no_pods(store, delete_every_pod(store) + MARGIN)
    if left:
        log.warning("Pods not gone when the node stopped (finalizers?): %s", ", ".join(left))
