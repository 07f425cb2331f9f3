"""No window for NetworkPolicy: the sandbox manager has the node's policy rules synced once the
Pod has its address and before the sandbox is ready for containers, and again when it goes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from podhost.node import sandboxes
from podhost.node.paths import NodePaths
from podhost.node.sandboxes import SandboxManager


class Volumes:
    def make_pod_dirs(self, uid: str) -> None: ...

    def write_pod_files(self, pod: Any, ip: str | None) -> None: ...


class Worker:
    def __init__(self) -> None:
        self.uid = "u1"
        self.pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
                    "spec": {"containers": []}}
        self.pod_ip: str | None = None
        self.sandbox_ready = False
        self.terminated = False


def test_policies_sync_before_containers_and_after_removal(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    async def nothing(*args: Any, **kwargs: Any) -> None: ...
    monkeypatch.setattr(sandboxes.sandbox, "sandbox_exists", lambda path: False)
    monkeypatch.setattr(sandboxes.sandbox, "create_sandbox", nothing)
    monkeypatch.setattr(sandboxes.sandbox, "remove_sandbox", nothing)
    worker = Worker()
    manager = SandboxManager(NodePaths(tmp_path), None, Volumes(),  # type: ignore[arg-type]
                             lambda: [worker])  # type: ignore[list-item, return-value]
    seen: list[tuple[str | None, bool]] = []
    manager.on_network_change = lambda: seen.append((worker.pod_ip, worker.sandbox_ready))
    asyncio.run(manager.prepare(worker))  # type: ignore[arg-type]
    assert seen == [("127.0.0.1", False)]  # the address known, no container yet
    assert worker.sandbox_ready
    asyncio.run(manager.remove(worker.uid, worker))  # type: ignore[arg-type]
    assert seen[-1] == ("127.0.0.1", False)
