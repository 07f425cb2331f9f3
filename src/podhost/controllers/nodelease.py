"""The node's heartbeat Lease (kube-node-lease/<node>), renewed as the kubelet's
nodelease controller does: every 10 s, a 40 s duration, owned by the Node; written through
the registry as the kubelet (field manager `kubelet`)."""

from __future__ import annotations

import asyncio
import logging

from podhost.api import errors, lease
from podhost.registry.client import Client

log = logging.getLogger(__name__)


class NodeLease:
    def __init__(self, store: Client, node_name: str,
                 interval: float = lease.NODE_LEASE_RENEW) -> None:
        self.store, self.node_name, self.interval = store, node_name, interval

    def renew(self) -> None:
        node = self.store.get("nodes", "", self.node_name)
        try:
            old = self.store.get("leases", lease.NODE_LEASE_NAMESPACE, self.node_name)
        except errors.NotFoundError:
            self.store.create("leases", lease.node_lease(node, None))
            return
        self.store.update("leases", lease.node_lease(node, old))

    async def run(self) -> None:
        while True:
            try:
                self.renew()
            except errors.ApiError as e:  # the Node not registered yet, a conflict
                log.info("renewing the node lease: %s", e)
            await asyncio.sleep(self.interval)
