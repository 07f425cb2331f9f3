"""What the API server asks of the node (the `NodeBackend` of `podhost.api.nodeapi`): exec,
attach, logs and port-forward into a Pod's containers, the usage for metrics.k8s.io and the
node's own metrics (kubelet's streaming server and stats provider)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta

from podhost.api import errors, meta
from podhost.api.nodeapi import LogOptions, NodeUsage
from podhost.node import attach as attaching
from podhost.node import logs as logfiles
from podhost.node import probes, stats
from podhost.node.endpoints import NodeEndpoints
from podhost.node.execs import ExecProcess
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.node.pod_workers import PodWorker
from podhost.node.volume_access import VolumeAccess
from podhost.runtime.errors import ContainerRuntimeError, ExecStartError
from podhost.runtime.runc import Runtime
from podhost.runtime.spec import cgroups_path
from podhost.runtime.types import ContainerConfig
from podhost.volumes import eviction

RECOVERY_WAIT = 60.0  # seconds exec, logs and port-forward wait for a restart's adoption
LOOPBACK = "127.0.0.1"
DIAL_TIMEOUT = 10.0


class Streaming:
    def __init__(self, runtime: Runtime, paths: NodePaths, workers: Mapping[str, PodWorker],
                 recovered: asyncio.Event, store: object = None, *, node_name: str = "",
                 metrics: NodeMetrics = DETACHED) -> None:
        self.runtime, self.paths, self.workers = runtime, paths, workers
        self.node_name = node_name  # the API server's Node object bears the same name
        self.recovered = recovered  # set once containers that outlived a restart are adopted
        self.sampler = stats.Sampler()  # CPU usage needs the previous sample
        self.volumes = VolumeAccess(paths, self._find, store)
        self.volume_list, self.volume_read = self.volumes.list, self.volumes.read
        self.volume_write = self.volumes.write
        self.endpoints = NodeEndpoints(node_name, paths, workers, store, self.usage, metrics)

    async def _find(self, namespace: str, name: str) -> PodWorker:
        """The Pod's worker, once containers that outlived a restart have been adopted."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.recovered.wait(), RECOVERY_WAIT)
        for worker in self.workers.values():
            m = worker.pod["metadata"]
            if m["name"] == name and m.get("namespace") == namespace:
                return worker
        raise errors.NotFoundError.of("pods", name)

    async def exec(self, namespace: str, name: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> ExecProcess:
        worker = await self._find(namespace, name)
        rec = worker.records.get(container)
        if rec is None or not rec.running or rec.id is None:
            raise errors.BadRequestError(f'container not found ("{container}")')
        try:
            session = await self.runtime.exec(rec.id, command, tty=tty, stdin=stdin)
            return ExecProcess(session)
        except ExecStartError as e:
            raise errors.InternalError(
                "Internal error occurred: error executing command in container: failed to exec "
                f"in container: failed to start exec: OCI runtime exec failed: {e}: unknown"
            ) from None
        except ContainerRuntimeError as e:
            raise errors.InternalError(f"Internal error occurred: error executing command in "
                                       f"container: {e}") from None

    async def attach(self, namespace: str, name: str, container: str, *, stdin: bool,
                     tty: bool) -> attaching.AttachProcess:
        return attaching.attach(self.runtime, await self._find(namespace, name), container,
                                stdin=stdin, tty=tty)

    async def logs(self, namespace: str, name: str, options: LogOptions) -> AsyncIterator[bytes]:
        worker = await self._find(namespace, name)
        container = options.container or _only_container(worker.pod, name)
        rec = worker.records.get(container)
        if rec is None:
            raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
        attempt = rec.attempt
        if options.previous:
            if not rec.last_state:
                raise errors.BadRequestError(f'previous terminated container "{container}" in '
                                             f'pod "{name}" not found')
            attempt = rec.attempt if rec.terminated else rec.attempt - 1
        elif rec.id is None and rec.exit_code is None:
            raise errors.BadRequestError(f'container "{container}" in pod "{name}" is waiting '
                                         f'to start: {rec.waiting_reason or "ContainerCreating"}')
        path = self.paths.log_path(worker.pod, container, attempt)
        current_id = rec.id

        def alive() -> bool:
            return not options.previous and rec.id == current_id and rec.running

        return logfiles.stream(path, follow=options.follow, timestamps=options.timestamps,
                               tail=options.tail_lines, since=_since(options),
                               limit=options.limit_bytes, alive=alive)

    async def port_forward(self, namespace: str, name: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to 127.0.0.1:port inside the Pod's network namespace, as CRI-O does."""
        worker = await self._find(namespace, name)
        sock = await asyncio.to_thread(probes.socket_in_netns, self.paths.netns(worker.uid),
                                       socket.AF_INET)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port)), DIAL_TIMEOUT)
        except OSError as e:  # asyncio's text names the address; kubelet's is the errno's
            sock.close()
            raise OSError(e.errno, os.strerror(e.errno)) if e.errno else e from None
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def usage(self) -> NodeUsage:
        pods = {(w.pod["metadata"].get("namespace", ""), w.pod["metadata"]["name"]):
                {rec.name: cgroups_path(ContainerConfig.cgroup_parent, rec.id)
                 for rec in w.records.values() if rec.running and rec.id}
                for w in self.workers.values()}
        return await self.sampler.usage(pods)

    async def metrics_text(self) -> str:
        """The node's part of the API server's `/metrics`: podhost's aliases, each emptyDir's
        usage and limit and the Pods the node runs (`kubelet_volume_stats_*` are only on the
        kubelet's own `metrics`)."""
        pods = [(self.paths.pod_dir(w.uid), w.pod) for w in list(self.workers.values())]
        text = await asyncio.to_thread(eviction.metrics_text, pods)
        return text + ("# HELP podhost_running_pods Pods the node has workers for.\n"
                       "# TYPE podhost_running_pods gauge\n"
                       f"podhost_running_pods {len(pods)}\n")

    async def node_endpoint(self, path: str) -> tuple[str, bytes] | None:
        """The kubelet's read-only endpoints (metrics, stats/summary, healthz, pods)."""
        return await self.endpoints.get(path)


def _only_container(pod: dict[str, object], name: str) -> str:
    spec = pod["spec"]
    assert isinstance(spec, dict)
    names = [c["name"] for c in spec["containers"]]
    if len(names) != 1:
        raise errors.BadRequestError(f"a container name must be specified for pod {name}, "
                                     f"choose one of: [{' '.join(names)}]")
    return str(names[0])


def _since(options: LogOptions) -> datetime | None:
    if options.since_seconds is not None:
        return meta.now() - timedelta(seconds=options.since_seconds)
    if options.since_time:
        return meta.parse_time(options.since_time)
    return None
