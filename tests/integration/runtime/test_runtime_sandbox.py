"""Pod sandboxes: pinned network/IPC/UTS namespaces shared by containers."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from podhost.host.mount import mount_points
from podhost.runtime.errors import SandboxError
from podhost.runtime.runc import Runtime
from podhost.runtime.sandbox import create_sandbox, remove_sandbox, sandbox_exists
from podhost.runtime.types import ContainerConfig, Mount
from tests.integration.runtime.runtime_helpers import integration_marks

pytestmark = integration_marks()


def test_sandbox_create_and_remove(tmp_path: Path) -> None:
    ns_dir = tmp_path / "pod1" / "ns"

    async def scenario() -> dict[str, str]:
        paths = await create_sandbox(ns_dir, "pod-one")
        assert sandbox_exists(ns_dir)
        return paths

    paths = asyncio.run(scenario())
    assert paths == {"network": str(ns_dir / "net"), "ipc": str(ns_dir / "ipc"),
                     "uts": str(ns_dir / "uts")}
    for kind, own in (("network", "net"), ("ipc", "ipc"), ("uts", "uts")):
        pinned = os.stat(paths[kind])
        assert pinned.st_ino != os.stat(f"/proc/self/ns/{own}").st_ino
    assert os.uname().nodename != "pod-one"  # the host's UTS namespace is untouched
    assert len(mount_points(ns_dir)) == 3

    asyncio.run(remove_sandbox(ns_dir))
    asyncio.run(remove_sandbox(ns_dir))  # idempotent
    assert not ns_dir.exists()
    assert not sandbox_exists(ns_dir)
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


def test_containers_share_sandbox(runtime: Runtime, make_config: Callable[..., ContainerConfig],
                                  host_dir: Path, tmp_path: Path) -> None:
    ns_dir = tmp_path / "ns"
    host = (Mount("/host", str(host_dir)),)
    server_script = "hostname > /host/server-host; nc -l -p 8080 > /host/received"
    client_script = ("hostname > /host/client-host; for i in $(seq 100); do "
                     "echo hi-from-client | nc 127.0.0.1 8080 && exit 0; sleep 0.05; done; exit 1")

    async def scenario() -> None:
        namespaces = await create_sandbox(ns_dir, "pod-two")
        server = make_config(["sh", "-c", server_script], namespaces=namespaces,
                             hostname="pod-two", mounts=host)
        client = make_config(["sh", "-c", client_script], namespaces=namespaces,
                             hostname="pod-two", mounts=host)
        try:
            for cfg in (server, client):
                await runtime.create(cfg)
                await runtime.start(cfg.id)
            for cfg in (client, server):
                assert await runtime.wait_exit(cfg.id, 15), cfg.id
                assert (await runtime.state(cfg.id)).exit_code == 0
            for cfg in (server, client):
                await runtime.delete(cfg.id)
        finally:
            await remove_sandbox(ns_dir)

    asyncio.run(scenario())
    assert (host_dir / "received").read_text() == "hi-from-client\n"
    assert (host_dir / "server-host").read_text() == "pod-two\n"
    assert (host_dir / "client-host").read_text() == "pod-two\n"
    assert not ns_dir.exists()
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


def test_sandbox_namespaces_are_those_of_the_containers(
        runtime: Runtime, make_config: Callable[..., ContainerConfig], tmp_path: Path) -> None:
    ns_dir = tmp_path / "ns"

    async def scenario() -> None:
        namespaces = await create_sandbox(ns_dir, "pod-three")
        cfg = make_config(["sleep", "100"], namespaces=namespaces, hostname="pod-three")
        try:
            await runtime.create(cfg)
            pid = runtime.pid(cfg.id)
            for kind, name in (("network", "net"), ("ipc", "ipc"), ("uts", "uts")):
                assert os.stat(f"/proc/{pid}/ns/{name}").st_ino == os.stat(namespaces[kind]).st_ino
            assert os.stat(f"/proc/{pid}/ns/pid").st_ino != os.stat("/proc/self/ns/pid").st_ino
            await runtime.delete(cfg.id)
        finally:
            await remove_sandbox(ns_dir)

    asyncio.run(scenario())


def test_sandbox_failures_leave_nothing(tmp_path: Path) -> None:
    ns_dir = tmp_path / "bad"

    async def scenario() -> None:
        with pytest.raises(SandboxError) as info:
            await create_sandbox(ns_dir, "x" * 100)  # longer than HOST_NAME_MAX
        assert info.value.errno == errno.EINVAL
        assert not ns_dir.exists()
        await create_sandbox(ns_dir, "ok")
        with pytest.raises(SandboxError, match="already exists"):
            await create_sandbox(ns_dir, "ok")
        assert sandbox_exists(ns_dir)
        await remove_sandbox(ns_dir)

    asyncio.run(scenario())
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
