"""The seam between the API edge and the node: what exec and logs need from a kubelet.

The API server never imports the node; the node implements this Protocol and is handed to the
server when the process is put together (as kube-apiserver talks to a kubelet it does not own).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Protocol


@dataclass(frozen=True, slots=True)
class LogOptions:
    container: str | None = None
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: str | None = None
    limit_bytes: int | None = None


class ExecProcess(Protocol):
    async def read(self) -> tuple[int, bytes] | None:
        """Next output as (1 stdout | 2 stderr, data); None once all output has ended."""

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


class NodeBackend(Protocol):
    async def exec(self, namespace: str, name: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> ExecProcess:
        """Start a process in a running container; raises ApiError when it cannot start."""

    async def logs(self, namespace: str, name: str, options: LogOptions) -> AsyncIterator[bytes]:
        """Check the request and return the log stream (raises ApiError before streaming)."""

    async def port_forward(self, namespace: str, name: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to 127.0.0.1:port inside the Pod's network namespace (ApiError or
        OSError when it cannot be made)."""
