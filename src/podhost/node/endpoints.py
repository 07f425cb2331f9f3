"""The kubelet's read-only HTTP endpoints, as the API server's node proxy reaches them
(`/api/v1/nodes/NODE/proxy/<path>`): `metrics`, `metrics/cadvisor`, `metrics/resource`,
`metrics/probes`, `stats/summary`, `healthz` and `pods` (pkg/kubelet/server/server.go).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from podhost.api import meta
from podhost.api.nodeapi import NodeUsage
from podhost.node import cadvisor, summary
from podhost.node.metrics import CONTENT_TYPE, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.node.summary import PodStats
from podhost.volumes import eviction

JSON = "application/json"
_VOLUME_STATS = (("capacity_bytes", "Capacity in bytes of the volume", "capacity"),
                 ("available_bytes", "Number of available bytes in the volume", "available"),
                 ("used_bytes", "Number of used bytes in the volume", "used"),
                 ("inodes", "Maximum number of inodes in the volume", "inodes"),
                 ("inodes_free", "Number of free inodes in the volume", "inodes_free"),
                 ("inodes_used", "Number of used inodes in the volume", "inodes_used"))


def volume_stats_families(pods: Iterable[PodStats]) -> list[Metric]:
    """kubelet_volume_stats_* of the claims mounted (each claim once), as kubelet's
    volumeStatsCollector."""
    seen: dict[tuple[str, str], summary.VolumeStats] = {}
    for p in pods:
        for v in p.volumes:
            if v.claim is not None:
                seen.setdefault(v.claim, v)
    families: list[Metric] = []
    for suffix, text, attr in _VOLUME_STATS:
        family = GaugeMetricFamily(f"kubelet_volume_stats_{suffix}", f"[ALPHA] {text}",
                                   labels=["namespace", "persistentvolumeclaim"])
        for (ns, claim), v in sorted(seen.items()):
            family.add_metric([ns, claim], getattr(v, attr))
        families.append(family)
    return families


class NodeEndpoints:
    def __init__(self, node_name: str, paths: NodePaths, workers: Mapping[str, Any],
                 store: Any, usage: Callable[[], Awaitable[NodeUsage]],
                 metrics: NodeMetrics) -> None:
        self.node_name, self.paths, self.workers, self.store = node_name, paths, workers, store
        self.usage, self.metrics = usage, metrics
        self.start_time = meta.rfc3339()

    def _snapshot(self) -> list[Any]:
        """What the measuring thread reads of the workers, copied on the event loop."""
        return [SimpleNamespace(uid=w.uid, pod=w.pod, records=dict(w.records),
                                sandbox_ready=w.sandbox_ready, start_time=w.start_time)
                for w in list(self.workers.values())]

    async def measure(self) -> tuple[list[PodStats], NodeUsage]:
        usage = await self.usage()
        pods = await asyncio.to_thread(summary.measure, self._snapshot(), self.paths,
                                       self.store)
        summary.add_rates(pods, usage)
        return pods, usage

    async def get(self, path: str) -> tuple[str, bytes] | None:
        path = path.strip("/")
        if path == "healthz":
            return "text/plain; charset=utf-8", b"ok"
        if path == "pods":
            items = [w.pod for w in list(self.workers.values()) if not w.removed]
            return JSON, json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                     "items": items}).encode()
        if path == "podhost/pulls":  # the pulls under way, for the dashboard
            pulls = [t.state() for t in self.metrics.ops.pulls.values()]
            return JSON, json.dumps({"pulls": pulls}).encode()
        if path == "metrics/probes":
            return CONTENT_TYPE, self.metrics.probes_text().encode()
        if path == "metrics":
            return CONTENT_TYPE, (await self.metrics_text()).encode()
        if path == "metrics/cadvisor":  # cumulative counters: no CPU rates, no volumes
            text = await asyncio.to_thread(self._cadvisor, self._snapshot())
            return CONTENT_TYPE, text.encode()
        if path not in ("stats/summary", "stats/summary/", "metrics/resource"):
            return None
        pods, usage = await self.measure()
        if path == "metrics/resource":
            return CONTENT_TYPE, summary.resource_text(pods, usage).encode()
        body = summary.summary(self.node_name, self.start_time, self.paths.root, usage, pods)
        return JSON, json.dumps(body).encode()

    def _cadvisor(self, workers: list[Any]) -> str:
        return cadvisor.cadvisor_text(summary.measure(workers, self.paths, self.store,
                                                      volumes=False))

    async def metrics_text(self) -> str:
        """kubelet's registry, the claims' volume stats, and podhost's emptyDir aliases."""
        workers = self._snapshot()
        pods = await asyncio.to_thread(summary.measure, workers, self.paths, self.store)
        aliases = await asyncio.to_thread(
            eviction.metrics_text, [(self.paths.pod_dir(w.uid), w.pod) for w in workers])
        return self.metrics.text() + summary.exposition(volume_stats_families(pods)) + aliases
