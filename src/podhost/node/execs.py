"""Adapts a runtime exec session to the API server's ExecProcess: one ordered output stream."""

from __future__ import annotations

import asyncio
import contextlib

from podhost.runtime.exec import ExecSession


class ExecProcess:
    """Merges stdout and stderr reads into `read() -> (channel, data) | None`."""

    def __init__(self, session: ExecSession) -> None:
        self.session = session
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        streams = [(1, session.read_stdout)]
        if not session.tty:
            streams.append((2, session.read_stderr))
        self.open = len(streams)
        self.readers = [asyncio.ensure_future(self._pump(ch, fn)) for ch, fn in streams]

    async def _pump(self, channel: int, read) -> None:  # type: ignore[no-untyped-def]
        try:
            while True:
                data = await read()
                if not data:
                    break
                await self.queue.put((channel, data))
        except OSError:
            pass
        finally:
            self.open -= 1
            if self.open == 0:
                await self.queue.put(None)

    async def read(self) -> tuple[int, bytes] | None:
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            await self.session.write_stdin(data)

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            await self.session.close_stdin()

    def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            self.session.resize(width, height)

    async def wait(self) -> int:
        return await self.session.wait()

    def kill(self) -> None:
        for task in self.readers:
            task.cancel()
        with contextlib.suppress(OSError, ProcessLookupError):
            if self.session.exit_code is None:
                self.session.kill()
        asyncio.ensure_future(self.session.close())
