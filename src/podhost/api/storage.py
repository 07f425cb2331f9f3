"""What the node (and the controllers) need of the object store, as a Protocol.

The node never imports `podhost.store`: `cli/serve.py` hands it the SQLite store, which has
these methods, and unit tests hand it a fake. Watch events carry `type` (ADDED, MODIFIED,
DELETED) and `object`; a `None` on the queue means the watch was closed and must be made again.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from typing import Any, Protocol

from podhost.api.types import Obj


class WatchEvent(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def object(self) -> dict[str, Any]: ...


class WatchHandle(Protocol):
    @property
    def queue(self) -> asyncio.Queue[Any]: ...


class ObjectStore(Protocol):
    def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    def list(self, resource: str, namespace: str | None = None
             ) -> tuple[builtins.list[Obj], int]: ...

    def create(self, resource: str, obj: Obj) -> Obj: ...

    def update(self, resource: str, obj: Obj, *, expected_rv: str | None = None) -> Obj: ...

    def delete(self, resource: str, namespace: str, name: str) -> Obj: ...

    def watch(self, resource: str, namespace: str | None, since_rv: int | None,
              predicate: Callable[[Obj], bool]) -> tuple[Any, builtins.list[Any]]: ...

    def unwatch(self, watcher: Any) -> None: ...


class ApiClient(ObjectStore, Protocol):
    """An in-process API client (podhost.registry.client.Client): the store's methods, with
    writes through the registry's write path, and a client's graceful delete."""

    def update_status(self, resource: str, obj: Obj, *, expected_rv: str | None = None,
                      subresource: str = "status") -> Obj: ...

    def delete_gracefully(self, resource: str, obj: Obj, grace: int | None = None,
                          policy: str = "Background") -> Obj: ...
