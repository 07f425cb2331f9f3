"""A Pod's volumes read and written from the node (`podhost volume ls|cat|cp`, and `podhost cp`
into containers without `tar`): the part of the NodeBackend the API server's
`nodes/NODE/proxy/podhost/volumes/...` path calls. Paths stay inside the volume
(volumes/browse.py); errors are ApiErrors in the API's words."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from podhost.api import errors
from podhost.api.types import Obj
from podhost.node.paths import NodePaths
from podhost.node.pod_workers import PodWorker
from podhost.volumes import browse
from podhost.volumes.browse import BrowseError
from podhost.volumes.emptydir import VolumeSetupError

_ERRORS: dict[str, type[errors.ApiError]] = {"invalid": errors.BadRequestError,
                                             "not-found": errors.NotFoundError,
                                             "forbidden": errors.ForbiddenError}


T = TypeVar("T")
# the browser's own threads: a client never holds one of the loop's default threads (which run
# Pod set-up and teardown), and never more than WORKERS of its own; a request waits at most
# QUEUE_WAIT for one and runs at most TIME_LIMIT
WORKERS, QUEUED, QUEUE_WAIT, TIME_LIMIT = 4, 16, 5.0, 60.0


def api_error(e: BrowseError, pod: str, volume: str) -> errors.ApiError:
    return _ERRORS[e.kind](f'volume "{volume}" of pod "{pod}": {e}')


class VolumeAccess:
    def __init__(self, paths: NodePaths, find: Callable[[str, str], Awaitable[PodWorker]],
                 store: object = None) -> None:
        self.paths, self.find, self.store = paths, find, store
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="volume-browser")
        self.slots = asyncio.Semaphore(QUEUED)
        self.time_limit = TIME_LIMIT

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the browser's executor, within its time limit (429 when QUEUED requests
        already wait, 504 past the limit)."""
        if self.slots.locked():
            raise errors.TooManyRequestsError("too many volume requests in flight on the node, "
                                              "please try again later")
        async with self.slots:
            future = asyncio.get_running_loop().run_in_executor(
                self.executor, functools.partial(fn, *args))
            try:
                return await asyncio.wait_for(future, self.time_limit)
            except TimeoutError:
                raise errors.RequestTimeoutError(
                    f"the volume request did not finish in {self.time_limit:g}s") from None

    async def _volume(self, namespace: str, name: str, volume: str) -> tuple[Obj, Path]:
        worker = await self.find(namespace, name)
        spec = next((v for v in worker.pod["spec"].get("volumes") or []
                     if v.get("name") == volume), None)
        if spec is None:
            known = ", ".join(v.get("name", "") for v in worker.pod["spec"].get("volumes") or [])
            raise errors.NotFoundError(f'volume "{volume}" not found in pod "{name}" (its '
                                       f"volumes: {known or 'none'})")
        if not worker.sandbox_ready:
            raise errors.BadRequestError(f'volume "{volume}" of pod "{name}" is not set up on '
                                         "the node: the Pod is not running")
        try:
            root = browse.host_path(self.paths.pod_dir(worker.uid), worker.pod, spec,
                                    self.store)
        except (VolumeSetupError, OSError, LookupError) as e:
            raise errors.BadRequestError(f'volume "{volume}" of pod "{name}": {e}') from None
        return spec, root

    async def list(self, namespace: str, name: str, volume: str, path: str) -> Obj:
        """{"type": the path's type, "entries": [...]}."""
        _, root = await self._volume(namespace, name, volume)
        try:
            kind, entries = await self._run(browse.list_path, root, path, volume)
        except BrowseError as e:
            raise api_error(e, name, volume) from None
        return {"type": kind, "entries": [e.to_dict() for e in entries]}

    async def read(self, namespace: str, name: str, volume: str, path: str
                   ) -> AsyncIterator[bytes]:
        _, root = await self._volume(namespace, name, volume)
        try:
            chunks = await self._run(browse.read_file, root, path, volume)
        except BrowseError as e:
            raise api_error(e, name, volume) from None
        return self._aiter(chunks)

    async def write(self, namespace: str, name: str, volume: str, path: str, data: bytes, *,
                    offset: int = 0, directory: bool = False, mode: int | None = None) -> None:
        spec, root = await self._volume(namespace, name, volume)
        kind = next((k for k in browse.READ_ONLY if spec.get(k) is not None), None)
        if kind is not None:
            raise errors.ForbiddenError(f'volume "{volume}" of pod "{name}" is a {kind} volume, '
                                        "which is read-only")
        try:
            if directory:
                await self._run(browse.make_dir, root, path, volume, mode or 0o755)
            else:
                await self._run(browse.write_file, root, path, volume, data, offset,
                                mode if mode is not None else 0o644)
        except BrowseError as e:
            raise api_error(e, name, volume) from None

    async def _aiter(self, chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
        """The chunks, each read on the browser's executor within the time limit."""
        loop = asyncio.get_running_loop()
        try:
            while chunk := await asyncio.wait_for(
                    loop.run_in_executor(self.executor, next, chunks, b""), self.time_limit):
                yield chunk
        finally:
            try:
                chunks.close()
            except ValueError:  # still running on its thread (timed out): it closes at its end
                pass
