"""An in-process API client: reads straight from the store, writes through the registry's one
write path under a field manager of its own (`kube-controller-manager`, `kubelet`, ...), as an
ordinary API user would, so that controllers and the node get validation, admission,
namespace lifecycle and managedFields like any other writer.

It has the store's methods (`api.storage.ObjectStore`), so code written against the store reads
the same. Two differences from a remote client, both documented: `update` writes the status it
is given along with the rest (an in-process writer owns both; upstream controllers make a
second request to `/status`), and `remove` deletes a finalized object at once (the last step of
the garbage collector and the kubelet).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from podhost.api import registry as table
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.registry.generic import Registry


class Client:
    def __init__(self, registry: Registry, manager: str) -> None:
        self.registry = registry
        self.store = registry.store
        self.manager = manager

    # -- reads, from the store --------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Obj:
        return self.store.get(resource, namespace, name)

    def list(self, resource: str, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> tuple[builtins.list[Obj], int]:
        if predicate is None:
            return self.store.list(resource, namespace)
        return self.store.list(resource, namespace, predicate)  # type: ignore[call-arg]

    def watch(self, resource: str, namespace: str | None, since_rv: int | None,
              predicate: Callable[[Obj], bool]) -> tuple[Any, builtins.list[Any]]:
        return self.store.watch(resource, namespace, since_rv, predicate)

    def unwatch(self, watcher: Any) -> None:
        self.store.unwatch(watcher)

    def __getattr__(self, name: str) -> Any:
        """Other read helpers of the store (current_rv, version_of, uid_of, list_json)."""
        if name in ("current_rv", "version_of", "uid_of", "list_json"):
            return getattr(self.store, name)
        raise AttributeError(name)

    # -- writes, through the registry -------------------------------------------------------
    def create(self, resource: str, obj: Obj) -> Obj:
        ns = (obj.get("metadata") or {}).get("namespace") or None
        return self.registry.create(resource, obj, ns if self._namespaced(resource) else None,
                                    manager=self.manager)

    def update(self, resource: str, obj: Obj, *, expected_rv: str | None = None) -> Obj:
        return self.registry.update(resource, obj, manager=self.manager,
                                    expected_rv=expected_rv, owns_status=True)

    def update_status(self, resource: str, obj: Obj, *, expected_rv: str | None = None,
                      subresource: str = "status") -> Obj:
        """Write through `/status` (or another subresource: a Pod's `binding`)."""
        return self.registry.update(resource, obj, subresource=subresource,
                                    manager=self.manager, expected_rv=expected_rv)

    def delete(self, resource: str, namespace: str, name: str) -> Obj:
        """Remove the object now (what the store's delete did: no grace, no finalizers)."""
        return self.registry.remove(resource, namespace, name)

    def delete_gracefully(self, resource: str, obj: Obj, grace: int | None = None,
                          policy: str = "Background") -> Obj:
        """A client's DELETE: graceful for Pods, held by finalizers, `policy` propagation."""
        m = obj["metadata"]
        return self.registry.delete(resource, m.get("namespace") or "", m["name"], grace=grace,
                                    policy=policy, obj=obj,
                                    expected_rv=m.get("resourceVersion"))

    @staticmethod
    def _namespaced(resource: str) -> bool:
        rtype = table.get(resource)
        return rtype.namespaced if rtype is not None else True


def as_client(store: ObjectStore | Client, manager: str) -> Client:
    """`store` itself when it is a client; else a client writing through a registry over it."""
    return store if isinstance(store, Client) else Client(Registry(store), manager)
