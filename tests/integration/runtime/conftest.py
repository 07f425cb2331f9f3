"""Fixtures for runtime integration tests: a busybox rootfs, a private Runtime, cleanup checks.

These need root, runc, conmon and a static busybox (Debian's busybox-static).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from podhost.host.mount import mount_points
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig
from tests.integration.runtime.runtime_helpers import BUSYBOX, CGROUP_PARENT


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal root filesystem: static busybox and a symlink per applet."""
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    for d in ("bin", "proc", "dev", "sys", "tmp", "etc", "host"):
        (root / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "tmp").chmod(0o1777)
    return root


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime with a private state dir; every container left over is deleted afterwards."""
    rt = Runtime(tmp_path / "state")
    yield rt

    async def cleanup() -> None:
        for container_id in rt.list():
            await rt.delete(container_id)

    asyncio.run(cleanup())
    assert not mount_points(tmp_path)


@pytest.fixture
def make_config(busybox_rootfs: Path, tmp_path: Path) -> Callable[..., ContainerConfig]:
    """ContainerConfig factory: unique id, busybox rootfs, log in tmp_path, test cgroup parent."""

    def make(args: list[str], **overrides: object) -> ContainerConfig:
        container_id = overrides.pop("id", None) or f"t{uuid.uuid4().hex[:12]}"
        values: dict[str, object] = {
            "id": container_id, "name": container_id, "rootfs": busybox_rootfs, "args": args,
            "log_path": tmp_path / "logs" / f"{container_id}.log",
            "cgroup_parent": CGROUP_PARENT,
        }
        values.update(overrides)
        return ContainerConfig(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A host directory to bind-mount into containers at /host."""
    path = tmp_path / "hostdir"
    path.mkdir()
    return path


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cgroup_parent() -> Iterator[None]:
    yield
    for parent in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"):
        try:
            parent.rmdir()
        except OSError:
            pass
