"""Attaching to a container's own stdio through conmon's attach socket: stdin, stdinOnce, tty."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from podhost.runtime.conmon import STDOUT_PIPE, AttachConnection
from podhost.runtime.errors import ContainerNotFoundError
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig
from tests.integration.runtime.runtime_helpers import integration_marks
from tests.integration.runtime.test_runtime_exec import running

pytestmark = integration_marks()


async def read_until(conn: AttachConnection, marker: bytes) -> bytes:
    """stdout packets until marker has arrived (10 s at most per packet)."""
    data = b""
    while marker not in data:
        packet = await asyncio.wait_for(conn.recv(), 10)
        assert packet is not None and packet[0] == STDOUT_PIPE, (packet, data)
        data += packet[1]
    return data


def test_attach_stdin_once_cat(runtime: Runtime,
                               make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["cat"], stdin=True, stdin_once=True)

    async def scenario() -> None:
        async with running(runtime, cfg) as cid:
            conn = runtime.attach(cid)
            await conn.send(b"hello attach\n")
            assert await read_until(conn, b"hello attach\n") == b"hello attach\n"
            conn.shutdown_write()  # stdinOnce: conmon closes cat's stdin, cat ends
            assert await asyncio.wait_for(conn.recv(), 10) is None
            conn.close()
            assert await runtime.wait_exit(cid, 10)
            assert (await runtime.state(cid)).exit_code == 0
        assert cfg.log_path.read_text().endswith(" stdout F hello attach\n")

    asyncio.run(scenario())


def test_attach_stdin_stays_open_across_attaches(
        runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", 'while read l; do echo "echo:$l"; done'], stdin=True)

    async def scenario() -> None:
        async with running(runtime, cfg) as cid:
            for word in (b"one", b"two"):
                conn = runtime.attach(cid)
                await conn.send(word + b"\n")
                assert await read_until(conn, b"echo:" + word + b"\n")
                conn.close()  # detach: without stdinOnce the container keeps its stdin
            await asyncio.sleep(0.2)
            assert (await runtime.state(cid)).status == "running"

    asyncio.run(scenario())


def test_attach_tty_and_resize(runtime: Runtime,
                               make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh"], stdin=True, tty=True)

    async def scenario() -> None:
        async with running(runtime, cfg) as cid:
            assert runtime.resize(cid, 123, 45)
            conn = runtime.attach(cid)
            await conn.send(b"stty size; tty; echo $TERM\n")
            out = await read_until(conn, b"xterm")
            conn.close()
            assert b"45 123" in out and b"/dev/pts/" in out

    asyncio.run(scenario())


def test_attach_without_stdin_sees_output_and_the_end(
        runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", "sleep 0.5; echo late; echo err >&2; exit 3"])

    async def scenario() -> None:
        async with running(runtime, cfg) as cid:
            conn = runtime.attach(cid)
            packets = []
            while (packet := await asyncio.wait_for(conn.recv(), 10)) is not None:
                packets.append(packet)
            conn.close()
            assert sorted(packets) == [(2, b"late\n"), (3, b"err\n")]
            assert (await runtime.state(cid)).exit_code == 3

    asyncio.run(scenario())


def test_attach_to_a_missing_container(runtime: Runtime) -> None:
    with pytest.raises(ContainerNotFoundError):
        runtime.attach("nosuch")
