"""The loop every controller runs, as kube-controller-manager's do: informers watch the store
and turn each event into keys on a work queue; a worker takes one key at a time and reconciles
it, queueing it again with back-off when reconciling fails, or later when it asks to.

An informer lists its resource after it starts watching (so nothing is missed in between) and
does both again when the store closes its watch (a watcher that fell behind). A key is a name
the controller chooses (a namespace's name for both of podhost's controllers); reconciling reads
the current objects again, so a key queued twice or late does no harm.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers.queue import WorkQueue
from podhost.controllers.queuemetrics import queue_name
from podhost.registry.client import Client, as_client
from podhost.store.watch import Event

log = logging.getLogger(__name__)
MANAGER = "kube-controller-manager"  # the field manager of every controller's writes


def _everything(obj: Obj) -> bool:
    return True


@dataclass(frozen=True)
class Watch:
    """Watch `resource` (objects `predicate` accepts); `keys` names what an event concerns."""
    resource: str
    keys: Callable[[Event], Iterable[str]]
    predicate: Callable[[Obj], bool] = _everything


class Controller(abc.ABC):
    """Subclasses say what they watch (`watches`) and how one key is made right (`reconcile`)."""

    name = "controller"

    def __init__(self, store: ObjectStore | Client) -> None:
        # an ordinary API user: every write goes through the registry's write path
        self.store = as_client(store, MANAGER)
        self.queue = WorkQueue(name=queue_name(self.name))  # workqueue_* (queuemetrics.py)

    @abc.abstractmethod
    def watches(self) -> list[Watch]:
        """The informers: what to watch, and which keys each event queues."""

    @abc.abstractmethod
    def reconcile(self, key: str) -> float | None:
        """Make `key` right; returns in how many seconds to look at it again, or None."""

    async def run(self) -> None:
        """Watch and work until cancelled."""
        informers = [asyncio.ensure_future(self._inform(w)) for w in self.watches()]
        try:
            await self._work()
        finally:
            self.queue.shut_down()
            for task in informers:
                task.cancel()
            for task in informers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _enqueue(self, watch: Watch, event: Event) -> None:
        for key in watch.keys(event):
            self.queue.add(key)

    async def _inform(self, watch: Watch) -> None:
        while True:
            watcher, _ = self.store.watch(watch.resource, None, None, watch.predicate)
            try:
                items, rv = self.store.list(watch.resource, None, watch.predicate)
                for obj in items:
                    self._enqueue(watch, Event("ADDED", watch.resource, obj, rv))
                while (event := await watcher.queue.get()) is not None:
                    self._enqueue(watch, event)
            finally:
                self.store.unwatch(watcher)
            log.debug("%s: the watch of %s was closed; listing again", self.name,
                      watch.resource)

    async def _work(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                again = self.reconcile(key)
            except Exception:
                log.exception("%s: reconciling %r failed (try %d); retrying", self.name, key,
                              self.queue.failures(key) + 1)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            finally:
                self.queue.done(key)
            await asyncio.sleep(0)  # let the API and the node run between keys
