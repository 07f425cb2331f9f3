"""The kubelet's operation families (node/metrics_ops.py): names, labels, buckets as kubelet's."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from podhost.node.metrics import NodeMetrics
from podhost.node.metrics_ops import instrument_runtime, plugin_name


def samples(metrics: NodeMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(metrics.text()) for s in f.samples}


def value(metrics: NodeMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def create(self, cfg: Any) -> None:
        self.calls.append("create")

    async def start(self, cid: str) -> None:
        raise OSError("boom")

    def exited(self) -> dict[str, int]:
        return {"c1": 0}


def test_node_name_and_process_families() -> None:
    metrics = NodeMetrics(node_name="box")
    assert value(metrics, "kubelet_node_name", node="box") == 1
    assert (value(metrics, "process_resident_memory_bytes") or 0) > 0


def test_runtime_calls_are_counted_as_cri_operations() -> None:
    metrics = NodeMetrics()
    runtime = FakeRuntime()
    instrument_runtime(runtime, metrics.ops)

    async def run() -> None:
        await runtime.create(None)
        with pytest.raises(OSError):
            await runtime.start("c1")

    asyncio.run(run())
    assert runtime.exited() == {"c1": 0}
    assert runtime.calls == ["create"]
    assert value(metrics, "kubelet_runtime_operations_total",
                 operation_type="create_container") == 1
    assert value(metrics, "kubelet_runtime_operations_total",
                 operation_type="start_container") == 1
    assert value(metrics, "kubelet_runtime_operations_errors_total",
                 operation_type="start_container") == 1
    assert value(metrics, "kubelet_runtime_operations_errors_total",
                 operation_type="create_container") is None
    assert value(metrics, "kubelet_runtime_operations_total",
                 operation_type="list_containers") == 1
    assert value(metrics, "kubelet_runtime_operations_duration_seconds_bucket",
                 operation_type="create_container", le="0.005") == 1


def test_relists_evictions_and_pod_workers() -> None:
    metrics = NodeMetrics()
    metrics.ops.relisted(100.0, 0.002)
    metrics.ops.relisted(101.0, 0.02)
    metrics.ops.evicted()
    metrics.ops.pod_synced("create", 0.3)
    assert value(metrics, "kubelet_pleg_relist_duration_seconds_count") == 2
    assert value(metrics, "kubelet_pleg_relist_interval_seconds_count") == 1
    assert value(metrics, "kubelet_pleg_relist_interval_seconds_bucket", le="1.0") == 1
    assert value(metrics, "kubelet_pleg_relist_interval_seconds_bucket", le="0.5") == 0
    assert value(metrics, "kubelet_evictions_total", eviction_signal="emptydirfs.limit") == 1
    assert value(metrics, "kubelet_pod_worker_duration_seconds_bucket", operation_type="create",
                 le="0.5") == 1


def test_volumes_desired_and_actual() -> None:
    pod = {"spec": {"volumes": [{"name": "a", "emptyDir": {}},
                                {"name": "b", "configMap": {"name": "c"}},
                                {"name": "c", "persistentVolumeClaim": {"claimName": "x"}}]}}
    workers = [SimpleNamespace(pod=pod, sandbox_ready=True, terminated=False),
               SimpleNamespace(pod=pod, sandbox_ready=False, terminated=False),
               SimpleNamespace(pod=pod, sandbox_ready=True, terminated=True)]
    metrics = NodeMetrics(lambda: workers)
    metrics.ops.volume_operation({"emptyDir": {}}, "volume_mount", 0.01, True)
    assert value(metrics, "volume_manager_total_volumes", plugin_name="kubernetes.io/empty-dir",
                 state="desired_state_of_world") == 2
    assert value(metrics, "volume_manager_total_volumes", plugin_name="kubernetes.io/configmap",
                 state="actual_state_of_world") == 1
    assert value(metrics, "volume_manager_total_volumes",
                 plugin_name="kubernetes.io/local-volume", state="actual_state_of_world") == 1
    assert value(metrics, "storage_operation_duration_seconds_count",
                 volume_plugin="kubernetes.io/empty-dir", operation_name="volume_mount",
                 status="success", migrated="false") == 1


@pytest.mark.parametrize("volume,plugin", [
    ({"secret": {}}, "kubernetes.io/secret"), ({"projected": {}}, "kubernetes.io/projected"),
    ({"hostPath": {"path": "/"}}, "kubernetes.io/host-path"),
    ({"downwardAPI": {}}, "kubernetes.io/downward-api"), ({"image": {}}, "kubernetes.io/image"),
    ({"ephemeral": {}}, "kubernetes.io/local-volume")])
def test_plugin_names(volume: dict[str, Any], plugin: str) -> None:
    assert plugin_name(volume) == plugin


def test_pull_progress_while_a_pull_lasts() -> None:
    metrics = NodeMetrics()
    with metrics.ops.pulling("nginx") as progress:
        progress.resolved("docker.io/library/nginx:latest", "mirror",
                          [SimpleNamespace(digest="sha256:a", size=100),
                           SimpleNamespace(digest="sha256:b", size=300)])
        progress.layer("sha256:a", 100, 100)
        progress.layer("sha256:b", 50, 300)
        assert metrics.ops.pulls["nginx"].state() == {
            "image": "nginx", "phase": "downloading", "downloadedBytes": 150,
            "totalBytes": 400, "layers": 2}
        progress.unpacking()
        assert metrics.ops.pulls["nginx"].state()["phase"] == "unpacking"
    assert metrics.ops.pulls == {}
