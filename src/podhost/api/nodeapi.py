"""The seam between the API edge and the node: what exec, attach, logs, port-forward and the
metrics API need from a kubelet.

The API server never imports the node; the node implements this Protocol and is handed to the
server when the process is put together (as kube-apiserver talks to a kubelet it does not own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


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


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    name: str
    cpu_nanocores: int
    memory_bytes: int  # working set


@dataclass(frozen=True, slots=True)
class PodUsage:
    namespace: str
    name: str
    containers: list[ContainerUsage]
    timestamp: float  # the end of the window (Unix time)
    window: float  # seconds


@dataclass(frozen=True, slots=True)
class NodeUsage:
    cpu_nanocores: int
    memory_bytes: int
    timestamp: float
    window: float
    pods: list[PodUsage] = field(default_factory=list)


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

    async def attach(self, namespace: str, name: str, container: str, *, stdin: bool,
                     tty: bool) -> ExecProcess:
        """Attach to a running container's main process (its output from now on, its stdin
        when it has `stdin: true`); wait() is its exit code if it ended, else 0, and kill()
        only detaches. Raises ApiError when it cannot attach."""

    async def logs(self, namespace: str, name: str, options: LogOptions) -> AsyncIterator[bytes]:
        """Check the request and return the log stream (raises ApiError before streaming)."""

    async def port_forward(self, namespace: str, name: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to 127.0.0.1:port inside the Pod's network namespace (ApiError or
        OSError when it cannot be made)."""

    async def usage(self) -> NodeUsage:
        """CPU and memory of the node and of every Pod with running containers, for
        metrics.k8s.io."""

    async def metrics_text(self) -> str:
        """The node's own metrics in the Prometheus text format (for `/metrics`)."""

    async def node_endpoint(self, path: str) -> tuple[str, bytes] | None:
        """(content type, body) of one of the node's own read-only endpoints, reached through
        the API server's node proxy: `metrics`, `metrics/cadvisor`, `metrics/resource`,
        `metrics/probes`, `stats/summary`, `healthz`, `pods`; None for any other path."""

    async def volume_list(self, namespace: str, name: str, volume: str, path: str
                          ) -> dict[str, Any]:
        """{"type": the type of `path` inside one of the Pod's volumes, "entries": a
        directory's entries or the file's own} (ApiError when the path leaves the volume or is
        missing)."""

    async def volume_read(self, namespace: str, name: str, volume: str, path: str
                          ) -> AsyncIterator[bytes]:
        """A regular file's content inside one of the Pod's volumes."""

    async def volume_write(self, namespace: str, name: str, volume: str, path: str,
                           data: bytes, *, offset: int = 0, directory: bool = False,
                           mode: int | None = None) -> None:
        """Write `data` at `offset` of a file (0 truncates), or make a directory, inside one of
        the Pod's writable volumes."""
