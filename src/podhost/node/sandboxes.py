"""Pod sandboxes: the namespaces every container of a Pod joins, the Pod's address on the
node's bridge and the node's hostPort table (CRI-O's sandbox_run and sandbox_network: a failed
step rolls back what was made before it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.network.bridge import PodNetwork
from podhost.network.hostports import pod_port_mappings, port_conflict
from podhost.node import podfiles
from podhost.node.paths import NodePaths
from podhost.node.pod_workers import PodWorker
from podhost.node.volume_manager import VolumeManager
from podhost.runtime import sandbox
from podhost.runtime.errors import ContainerRuntimeError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"  # the Pod IP when the node has no Pod network


def host_namespaces(pod: Obj) -> frozenset[str]:
    """The sandbox namespaces that are the host's: hostNetwork shares the network and UTS
    namespaces (kubelet gives such Pods the node's host name), hostIPC the IPC namespace."""
    spec = pod.get("spec") or {}
    shared = {"net", "uts"} if spec.get("hostNetwork") else set()
    if spec.get("hostIPC"):
        shared.add("ipc")
    return frozenset(shared)


class SandboxManager:
    def __init__(self, paths: NodePaths, network: PodNetwork | None, volumes: VolumeManager,
                 workers: Callable[[], Iterable[PodWorker]], host_ip: str = LOOPBACK) -> None:
        self.paths, self.network, self.volumes = paths, network, volumes
        self.workers = workers  # every Pod the node has a worker for
        self.host_ip = host_ip  # the address of hostNetwork Pods
        # the NetworkPolicy agent: called when a Pod got its address (before its containers
        # start) or its sandbox went (node/policies.py)
        self.on_network_change: Callable[[], None] | None = None

    def exists(self, uid: str) -> bool:
        return sandbox.sandbox_exists(self.paths.sandbox_dir(uid))

    async def prepare(self, worker: PodWorker) -> None:
        """The Pod's directories, namespaces, address and /etc files (idempotent)."""
        self.volumes.make_pod_dirs(worker.uid)
        ns_dir = self.paths.sandbox_dir(worker.uid)
        if not sandbox.sandbox_exists(ns_dir):
            await self._create(worker)
        else:
            worker.pod_ip = self.pod_ip(worker.uid, worker.pod)
        if worker.pod["spec"].get("shareProcessNamespace") and \
                not worker.pod["spec"].get("hostPID"):
            await asyncio.to_thread(sandbox.create_pid_namespace_sync, ns_dir)
        self.volumes.write_pod_files(worker.pod, worker.pod_ip)
        if self.on_network_change is not None:
            self.on_network_change()  # the Pod's policy rules, before its first packet
        worker.sandbox_ready = True
        with contextlib.suppress(NetworkError):  # logged; retried on the next change
            self.sync_host_ports()

    async def _create(self, worker: PodWorker) -> None:
        """New namespaces and, with a Pod network, the Pod's address on the node's bridge."""
        ns_dir = self.paths.sandbox_dir(worker.uid)
        hostname = podfiles.hostname(worker.pod)
        shared = host_namespaces(worker.pod)
        if self.network is None or "net" in shared:
            await sandbox.create_sandbox(ns_dir, hostname, shared=shared)
            worker.pod_ip = self.host_ip if "net" in shared else LOOPBACK
            return
        try:
            iface = self.network.interface(worker.uid)
            await sandbox.create_sandbox(ns_dir, hostname, iface)
            self.network.attach(iface)
            worker.pod_ip = iface.ip
            self.sync_host_ports(include=worker)
        except (NetworkError, ContainerRuntimeError, OSError):
            worker.pod_ip = None
            await sandbox.remove_sandbox(ns_dir)
            self.network.release(worker.uid)
            raise

    def pod_ip(self, uid: str, pod: Obj | None = None) -> str:
        """The address of a Pod whose sandbox exists (made before a restart of the node)."""
        if pod is not None and pod["spec"].get("hostNetwork"):
            return self.host_ip
        if self.network is None:
            return LOOPBACK
        try:
            return self.network.reattach(uid) or ""
        except NetworkError as e:
            log.error("Pod %s: %s", uid, e)
            return self.network.address_of(uid) or ""

    async def remove(self, uid: str, worker: PodWorker | None = None) -> None:
        if worker is not None:
            worker.sandbox_ready = False  # its host ports go now, and stay gone
        if self.network is not None:
            with contextlib.suppress(NetworkError):  # logged; the table is rebuilt at start
                self.sync_host_ports(exclude=uid)
        await sandbox.remove_sandbox(self.paths.sandbox_dir(uid))
        if self.network is not None:
            self.network.release(uid)
        if self.on_network_change is not None:
            self.on_network_change()

    def release_unknown(self, known: set[str]) -> None:
        if self.network is not None:
            self.network.release_unknown(known)

    def sync_host_ports(self, include: PodWorker | None = None, exclude: str = "") -> None:
        """Make the node's hostPort table map the ports of the Pods that have a sandbox."""
        if self.network is None:
            return
        workers = [w for w in self.workers()
                   if (w.sandbox_ready or w is include) and w.pod_ip and w.uid != exclude
                   and not w.terminated]
        if include is not None and include not in workers:
            workers.append(include)
        mappings, taken = [], set()
        for w in workers:  # a clash (Pods bound by hand) maps the port to the older Pod
            if w.pod["spec"].get("hostNetwork"):
                continue  # its processes listen on the node's ports themselves
            for m in pod_port_mappings(w.pod, w.pod_ip or ""):
                if (m.protocol, m.host_ip, m.host_port) not in taken:
                    taken.add((m.protocol, m.host_ip, m.host_port))
                    mappings.append(m)
        try:
            self.network.host_ports.apply(mappings)
        except NetworkError as e:
            log.error("hostPort mappings not applied: %s", e)
            raise

    def port_conflict(self, worker: PodWorker) -> bool:
        """Would the Pod's hostPorts clash with those of a Pod already on this node?"""
        others = [w.pod for w in self.workers()
                  if w is not worker and w.pod["spec"].get("nodeName") and not w.terminated
                  and w.pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        try:
            return port_conflict(worker.pod, others)
        except NetworkError:  # a port the node cannot map: bound, then FailedCreatePodSandBox
            return False
