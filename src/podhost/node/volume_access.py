"""A Pod's volumes read and written from the node (`podhost volume ls|cat|cp`, and `podhost cp`
into containers without `tar`): the part of the NodeBackend the API server's
`nodes/NODE/proxy/podhost/volumes/...` path calls. Paths stay inside the volume
(volumes/browse.py); errors are ApiErrors in the API's words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

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


def api_error(e: BrowseError, pod: str, volume: str) -> errors.ApiError:
    return _ERRORS[e.kind](f'volume "{volume}" of pod "{pod}": {e}')


class VolumeAccess:
    def __init__(self, paths: NodePaths, find: Callable[[str, str], Awaitable[PodWorker]],
                 store: object = None) -> None:
        self.paths, self.find, self.store = paths, find, store

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
            kind, entries = await asyncio.to_thread(browse.list_path, root, path, volume)
        except BrowseError as e:
            raise api_error(e, name, volume) from None
        return {"type": kind, "entries": [e.to_dict() for e in entries]}

    async def read(self, namespace: str, name: str, volume: str, path: str
                   ) -> AsyncIterator[bytes]:
        _, root = await self._volume(namespace, name, volume)
        try:
            chunks = await asyncio.to_thread(browse.read_file, root, path, volume)
        except BrowseError as e:
            raise api_error(e, name, volume) from None
        return _aiter(chunks)

    async def write(self, namespace: str, name: str, volume: str, path: str, data: bytes, *,
                    offset: int = 0, directory: bool = False, mode: int | None = None) -> None:
        spec, root = await self._volume(namespace, name, volume)
        kind = next((k for k in browse.READ_ONLY if spec.get(k) is not None), None)
        if kind is not None:
            raise errors.ForbiddenError(f'volume "{volume}" of pod "{name}" is a {kind} volume, '
                                        "which is read-only")
        try:
            if directory:
                await asyncio.to_thread(browse.make_dir, root, path, volume, mode or 0o755)
            else:
                await asyncio.to_thread(browse.write_file, root, path, volume, data, offset,
                                        mode if mode is not None else 0o644)
        except BrowseError as e:
            raise api_error(e, name, volume) from None


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(next, chunks, b"")
        if not chunk:
            return
        yield chunk
