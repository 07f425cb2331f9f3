"""The node's NetworkPolicy agent (what kube-network-policies is on a cluster): NetworkPolicies,
Pods and Namespaces are watched through the ObjectStore, and every change (coalesced) rebuilds
the rule model (`network/policy.py`) from the whole picture and rewrites the node's policy
table (`network/policytable.py`) in one transaction.

No window: the sandbox manager calls `pod_network_changed` once a new Pod has its address and
before any of its containers starts, and again when a sandbox goes, so the Pod's rules are in
place from its first packet and an address is never left to a Pod that is gone. Pod addresses
come from the node (`addresses`), which knows them before the Pod's status does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from podhost.api.storage import ObjectStore
from podhost.network import NetworkError
from podhost.network.policy import Model, PolicyPod, build
from podhost.network.policytable import PolicyTable

log = logging.getLogger(__name__)

RESOURCES = ("networkpolicies", "pods", "namespaces")


class PolicyAgent:
    def __init__(self, store: ObjectStore, table: PolicyTable,
                 addresses: Callable[[], dict[str, str]]) -> None:
        self.store, self.table, self.addresses = store, table, addresses
        self._changed = asyncio.Event()
        self.synced = asyncio.Event()  # set after each sync (tests, benchmarks)
        self.last_sync_seconds = 0.0

    def start(self) -> None:
        """Take the table over and enforce what the store holds now, before any Pod starts."""
        self.table.reset()
        self.sync()

    async def run(self) -> None:
        watchers = [asyncio.ensure_future(self._watch(r)) for r in RESOURCES]
        try:
            while True:
                await self._changed.wait()
                await asyncio.sleep(0.005)  # coalesce a burst of events
                self._changed.clear()
                self.sync()
        finally:
            for task in watchers:
                task.cancel()

    async def _watch(self, resource: str) -> None:
        while True:
            watcher, _ = self.store.watch(resource, None, None, lambda o: True)
            try:
                self._changed.set()
                while await watcher.queue.get() is not None:
                    self._changed.set()
            finally:
                self.store.unwatch(watcher)

    def model(self) -> Model:
        """The rule model of the store's policies over the Pods that have an address."""
        policies, _ = self.store.list("networkpolicies")
        if not policies:  # nothing isolated: the Pods need not be read
            return Model()
        namespaces = {n["metadata"]["name"]: n["metadata"].get("labels") or {}
                      for n in self.store.list("namespaces")[0]}
        known = self.addresses()
        pods = []
        for pod in self.store.list("pods")[0]:
            status = pod.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed"):
                continue
            ip = known.get(pod["metadata"].get("uid", "")) or status.get("podIP") or ""
            if found := PolicyPod.of(pod, ip):
                pods.append(found)
        return build(policies, pods, namespaces)

    def sync(self) -> None:
        start = time.monotonic()
        try:
            self.table.apply(self.model())
        except NetworkError as e:
            log.warning("cannot sync the NetworkPolicy rules: %s", e)
            asyncio.get_running_loop().call_later(1.0, self._changed.set)
        self.last_sync_seconds = time.monotonic() - start
        self.synced.set()

    def pod_network_changed(self) -> None:
        """A sandbox got its address or went: enforce now, before its containers start."""
        self.sync()

    def remove(self) -> None:
        """At clean-up: the node's policy table goes."""
        self.table.forget()
