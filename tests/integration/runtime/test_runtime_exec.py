"""`runc exec` sessions: pipes, exit codes, stdin, a real pty, start failures, kill."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from podhost.runtime.errors import ContainerNotFoundError, ExecStartError
from podhost.runtime.runc import ExecSession, Runtime
from podhost.runtime.types import ContainerConfig, Mount
from tests.integration.runtime.runtime_helpers import integration_marks, processes_mentioning

pytestmark = integration_marks()

BASH_MISSING = ('exec failed: unable to start container process: exec: "bash": executable file '
                'not found in $PATH')


@asynccontextmanager
async def running(runtime: Runtime, cfg: ContainerConfig) -> AsyncIterator[str]:
    await runtime.create(cfg)
    await runtime.start(cfg.id)
    try:
        yield cfg.id
    finally:
        await runtime.delete(cfg.id)


async def read_all(read: Callable[[], Awaitable[bytes]]) -> bytes:
    data = b""
    while chunk := await read():
        data += chunk
    return data


async def collect(session: ExecSession) -> tuple[bytes, bytes, int]:
    out, err = await asyncio.gather(read_all(session.read_stdout), read_all(session.read_stderr))
    code = await session.wait()
    await session.close()
    return out, err, code


async def read_until(session: ExecSession, marker: bytes, timeout: float = 5) -> bytes:
    data = b""

    async def loop() -> None:
        nonlocal data
        while marker not in data:
            chunk = await session.read_stdout()
            if not chunk:
                raise AssertionError(f"EOF before {marker!r}: {data!r}")
            data += chunk

    await asyncio.wait_for(loop(), timeout)
    return data


@pytest.fixture
def sleeper(make_config: Callable[..., ContainerConfig], host_dir: Path) -> ContainerConfig:
    (host_dir / "file").write_text("file contents\n")
    return make_config(["sleep", "1000"], mounts=(Mount("/host", str(host_dir)),),
                       env=["GREETING=hello"])


def test_exec_pipes(runtime: Runtime, sleeper: ContainerConfig) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            session = await runtime.exec(cid, ["cat", "/host/file"])
            assert session.pid > 0 and not session.tty
            assert await collect(session) == (b"file contents\n", b"", 0)

            session = await runtime.exec(cid, ["sh", "-c", "echo out; echo err >&2; exit 7"])
            assert await collect(session) == (b"out\n", b"err\n", 7)

            session = await runtime.exec(cid, ["sh", "-c", "echo $GREETING $EXTRA; pwd; id -u"],
                                         env=["EXTRA=x"])
            assert await collect(session) == (b"hello x\n/\n0\n", b"", 0)

    asyncio.run(scenario())


def test_exec_stdin(runtime: Runtime, sleeper: ContainerConfig) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            session = await runtime.exec(cid, ["tr", "a-z", "A-Z"], stdin=True)
            await session.write_stdin(b"hello\n")
            await session.write_stdin(b"world\n")
            await session.close_stdin()
            assert await collect(session) == (b"HELLO\nWORLD\n", b"", 0)

    asyncio.run(scenario())


def test_exec_tty(runtime: Runtime, sleeper: ContainerConfig) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            session = await runtime.exec(cid, ["sh"], tty=True, stdin=True)
            assert session.tty
            session.resize(100, 40)
            await session.write_stdin(b"echo hi\r")
            assert b"hi\r\n" in await read_until(session, b"hi\r\n")
            await session.write_stdin(b"tty; stty size; echo END$((1+1))\r")
            data = await read_until(session, b"END2\r\n")
            assert b"/dev/pts/" in data and b"40 100\r\n" in data
            await session.write_stdin(b"exit 5\r")
            await read_all(session.read_stdout)
            assert await session.wait() == 5
            assert await session.read_stderr() == b""
            await session.close()

    asyncio.run(scenario())


def test_exec_tty_close_stdin_sends_eof(runtime: Runtime, sleeper: ContainerConfig) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            session = await runtime.exec(cid, ["cat"], tty=True, stdin=True)
            await session.write_stdin(b"abc\r")
            await read_until(session, b"abc\r\nabc\r\n")  # echo, then cat's output
            await session.close_stdin()
            assert await asyncio.wait_for(session.wait(), 5) == 0
            await session.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("tty", [False, True])
def test_exec_missing_binary(runtime: Runtime, sleeper: ContainerConfig, tty: bool) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            with pytest.raises(ExecStartError) as info:
                await runtime.exec(cid, ["bash"], tty=tty, stdin=True)
            assert str(info.value) == BASH_MISSING
            # the container is unaffected and a later exec works
            session = await runtime.exec(cid, ["true"], tty=tty)
            assert (await collect(session))[2] == 0
        assert not list((runtime.exec_dir).iterdir())

    asyncio.run(scenario())


def test_exec_kill_and_close(runtime: Runtime, sleeper: ContainerConfig) -> None:
    async def scenario() -> None:
        async with running(runtime, sleeper) as cid:
            session = await runtime.exec(cid, ["sleep", "1001"])
            session.kill()
            assert await session.wait() == 137
            await session.close()
            tty_session = await runtime.exec(cid, ["sleep", "1002"], tty=True)
            await tty_session.close()  # kills what still runs
            assert tty_session.exit_code == 137
            assert not processes_mentioning("sleep 1001")
            assert not processes_mentioning("sleep 1002")

    asyncio.run(scenario())


def test_exec_in_unknown_or_stopped_container(runtime: Runtime,
                                              make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["true"])

    async def scenario() -> None:
        with pytest.raises(ContainerNotFoundError):
            await runtime.exec("nope", ["true"])
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 5)
        with pytest.raises(ExecStartError, match="stopped|not running"):
            await runtime.exec(cfg.id, ["true"])

    asyncio.run(scenario())
