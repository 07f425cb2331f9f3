"""The namespace controller and the root CA publisher over a real Store, without the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from podhost.api import errors
from podhost.api.types import Obj
from podhost.controllers.controller import Controller, Watch
from podhost.controllers.namespace import NamespaceController
from podhost.controllers.rootca import CONFIGMAP, RootCAPublisher
from podhost.registry import generic
from podhost.registry.core import namespaces
from podhost.store.sqlite import Store
from podhost.store.watch import Event


def make(resource: str, name: str, ns: str | None = None, **extra: Any) -> Obj:
    obj: Obj = {"metadata": {"name": name, **extra.pop("metadata", {})}, **extra}
    return generic.prepare_for_create(resource, obj, ns)


def store_with_default(tmp_path: Path) -> Store:
    """A store with the `default` namespace (writes into a missing namespace are refused)."""
    store = Store(tmp_path / "db")
    store.create("namespaces", make("namespaces", "default"))
    return store


@contextlib.asynccontextmanager
async def running(*controllers: Controller) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c.run()) for c in controllers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until(check: Callable[[], bool], timeout: float = 3) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def exists(store: Store, resource: str, ns: str, name: str) -> bool:
    try:
        store.get(resource, ns, name)
    except errors.NotFoundError:
        return False
    return True


def terminate(store: Store, name: str) -> None:
    store.update("namespaces", namespaces.mark_terminating(
        store.get("namespaces", "", name)))


def test_namespace_waits_for_pods_and_finalizers(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.create("namespaces", make("namespaces", "team"))
    store.create("configmaps", make("configmaps", "plain", "team"))
    store.create("configmaps", make("configmaps", "held", "team",
                                    metadata={"finalizers": ["example.com/keep"]}))
    store.create("pods", make("pods", "p", "team", spec={
        "nodeName": "n", "containers": [{"name": "c", "image": "busybox"}]}))

    async def go() -> None:
        async with running(NamespaceController(store)):
            terminate(store, "team")
            await until(lambda: not exists(store, "configmaps", "team", "plain"))
            pod = store.get("pods", "team", "p")  # graceful: marked, left to the node
            assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
            held = store.get("configmaps", "team", "held")
            assert held["metadata"]["deletionTimestamp"]
            await asyncio.sleep(0.3)
            assert exists(store, "namespaces", "", "team")
            store.delete("pods", "team", "p")  # what the node does once the Pod has stopped
            held["metadata"]["finalizers"] = []
            store.update("configmaps", held)
            store.delete("configmaps", "team", "held")  # as the API does for the last finalizer
            await until(lambda: not exists(store, "namespaces", "", "team"))
    asyncio.run(go())


def test_namespace_left_terminating_is_finished_on_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.create("namespaces", make("namespaces", "old"))
    store.create("secrets", make("secrets", "s", "old"))
    terminate(store, "old")
    store.create("namespaces", make("namespaces", "kept"))

    async def go() -> None:
        async with running(NamespaceController(store)):
            await until(lambda: not exists(store, "namespaces", "", "old"))
        assert store.list("secrets", "old")[0] == []
        assert exists(store, "namespaces", "", "kept")
    asyncio.run(go())


def test_root_ca_in_every_namespace_and_made_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.create("namespaces", make("namespaces", "default"))
    store.create("namespaces", make("namespaces", "going"))
    terminate(store, "going")

    async def go() -> None:
        async with running(RootCAPublisher(store, "PEM")):
            await until(lambda: exists(store, "configmaps", "default", CONFIGMAP))
            cm = store.get("configmaps", "default", CONFIGMAP)
            assert cm["data"] == {"ca.crt": "PEM"} and cm["metadata"]["namespace"] == "default"
            store.create("namespaces", make("namespaces", "new"))
            await until(lambda: exists(store, "configmaps", "new", CONFIGMAP))
            store.delete("configmaps", "default", CONFIGMAP)
            await until(lambda: exists(store, "configmaps", "default", CONFIGMAP))
            assert store.get("configmaps", "default", CONFIGMAP)["metadata"]["uid"] != \
                cm["metadata"]["uid"]
            await asyncio.sleep(0.05)
        assert not exists(store, "configmaps", "going", CONFIGMAP)  # Terminating: none
    asyncio.run(go())


class Flaky(Controller):
    """Fails its first two tries of every key."""

    name = "flaky"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.tries: dict[str, int] = {}
        self.done: list[str] = []

    def watches(self) -> list[Watch]:
        def keys(event: Event) -> list[str]:
            return [event.object["metadata"]["name"]]
        return [Watch("namespaces", keys)]

    def reconcile(self, key: str) -> float | None:
        self.tries[key] = self.tries.get(key, 0) + 1
        if self.tries[key] <= 2:
            raise RuntimeError("not yet")
        self.done.append(key)
        return None


def test_failed_keys_are_retried_and_a_closed_watch_is_made_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.create("namespaces", make("namespaces", "a"))
    flaky = Flaky(store)

    async def go() -> None:
        async with running(flaky):
            await until(lambda: flaky.done == ["a"])
            assert flaky.tries == {"a": 3}
            for watcher in list(store.events.watchers):
                watcher.close()  # as the store does to a watcher that fell behind
            await asyncio.sleep(0.05)
            store.create("namespaces", make("namespaces", "b"))
            await until(lambda: "b" in flaky.done)
    asyncio.run(go())
