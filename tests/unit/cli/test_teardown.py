"""`down --delete-pods` inside the node: every Pod deleted as a client's DELETE, the longest
grace period waited for, the Pods left at the deadline named."""

from __future__ import annotations

import asyncio
from typing import Any

from podhost.api import errors
from podhost.cli import teardown


class FakeStore:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[Any], int]:
        assert resource == "pods"
        return list(self.pods), 1


class FakeRegistry:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.store = FakeStore(pods)
        self.deleted: list[str] = []

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        if name == "gone":
            raise errors.NotFoundError(f'pods "{name}" not found')
        self.deleted.append(f"{namespace}/{name}")
        grace = {"slow": 30, "quick": 2}.get(name, 0)
        return {"metadata": {"name": name, "deletionGracePeriodSeconds": grace}}


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}}


def test_every_pod_is_deleted_and_the_longest_grace_returned() -> None:
    registry = FakeRegistry([pod("slow"), pod("quick"), pod("gone")])
    assert teardown.delete_every_pod(registry) == 30.0  # type: ignore[arg-type]
    assert registry.deleted == ["default/slow", "default/quick"]


def test_wait_names_the_pods_left_at_the_deadline() -> None:
    store = FakeStore([pod("stuck")])
    left = asyncio.run(teardown.wait_no_pods(store, 0.2))  # type: ignore[arg-type]
    assert left == ["default/stuck"]
    assert asyncio.run(teardown.wait_no_pods(FakeStore([]), 5)) == []  # type: ignore[arg-type]
