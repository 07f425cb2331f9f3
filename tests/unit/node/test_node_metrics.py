"""The kubelet's metrics, the Summary API and the node's read-only endpoints (node/metrics.py,
node/summary.py, node/endpoints.py), over fake workers, a temporary root and fake cgroups."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from podhost.api.nodeapi import ContainerUsage, NodeUsage, PodUsage
from podhost.network import host_ifname
from podhost.node import cadvisor, summary
from podhost.node.endpoints import NodeEndpoints, volume_stats_families
from podhost.node.metrics import NodeMetrics, container_state, image_size_bucket
from podhost.node.paths import NodePaths
from podhost.node.pod_state import ContainerRecord
from podhost.volumes import emptydir

CID = "c0ffee"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def pod(limit: str | None = None) -> dict[str, Any]:
    empty: dict[str, Any] = {"sizeLimit": limit} if limit else {}
    return {"metadata": {"name": "web", "namespace": "demo", "uid": "u1",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}],
                     "volumes": [{"name": "shared", "emptyDir": empty},
                                 {"name": "host", "hostPath": {"path": "/"}}]}}


def worker(obj: dict[str, Any], running: bool = True) -> Any:
    rec = ContainerRecord("app", "nginx", id=CID if running else None,
                          started_at="2026-01-01T00:00:01Z" if running else None)
    return SimpleNamespace(uid="u1", pod=obj, records={"app": rec}, sandbox_ready=True,
                           start_time="2026-01-01T00:00:00Z", removed=False)


def cgroups(root: Path) -> Path:
    base = root / "cgroup" / "podhost" / CID
    base.mkdir(parents=True)
    (base / "cpu.stat").write_text("usage_usec 2500000\n")
    (base / "memory.current").write_text("10485760\n")
    (base / "memory.stat").write_text("inactive_file 1048576\n")
    return root / "cgroup"


def test_kubelet_names_from_the_seams() -> None:
    w = worker(pod())
    m = NodeMetrics(lambda: [w])
    m.pod_seen("u1")
    m.sandbox_started(True)
    m.sandbox_started(False)
    m.container_started(init=False, ephemeral=False)
    m.container_started(init=True, ephemeral=False)
    m.container_failed(init=False, ephemeral=False, code="CreateContainerConfigError")
    m.image_pulled("u1", 0.25, 65_000_000)
    m.pod_running("u1", created=None)
    m.pod_running("u1", created=None)  # once per Pod
    m.probed("Readiness", True, "app", w.pod)
    got = samples(m.text())
    assert got[("kubelet_running_pods", ())] == 1
    assert got[("kubelet_running_containers", (("container_state", "running"),))] == 1
    assert got[("kubelet_running_containers", (("container_state", "exited"),))] == 0
    assert got[("kubelet_started_pods_total", ())] == 1
    assert got[("kubelet_started_pods_errors_total", ())] == 1
    assert got[("kubelet_started_containers_total", (("container_type", "container"),))] == 1
    assert got[("kubelet_started_containers_total",
                (("container_type", "init_container"),))] == 1
    assert got[("kubelet_started_containers_errors_total",
                (("code", "CreateContainerConfigError"), ("container_type", "container")))] == 1
    assert got[("kubelet_pod_start_duration_seconds_count", ())] == 1
    assert got[("kubelet_pod_start_sli_duration_seconds_count", ())] == 1
    assert got[("kubelet_image_pull_duration_seconds_count",
                (("image_size_in_bytes", "10MB-100MB"),))] == 1
    assert not any(name.endswith("_created") for name, _ in got)
    probes = samples(m.probes_text())
    assert probes[("prober_probe_total", (("container", "app"), ("namespace", "demo"),
                                          ("pod", "web"), ("pod_uid", "u1"),
                                          ("probe_type", "readiness"),
                                          ("result", "successful")))] == 1


def test_registries_are_private() -> None:
    from prometheus_client import REGISTRY
    NodeMetrics()
    NodeMetrics()  # a second node in one process: no duplicate registration
    assert "kubelet_running_pods" not in {f.name for f in REGISTRY.collect()}


def test_size_buckets_and_states() -> None:
    assert image_size_bucket(0) == "0-10MB"
    assert image_size_bucket(2_000_000_000) == "1GB-5GB"
    assert image_size_bucket(200_000_000_000) == "GT100GB"
    rec = ContainerRecord("a", "i")
    assert container_state(rec) == "unknown"
    rec.id = "x"
    assert container_state(rec) == "created"
    rec.started_at = "t"
    assert container_state(rec) == "running"
    rec.exit_code = 0
    assert container_state(rec) == "exited"


def usage() -> NodeUsage:
    return NodeUsage(500_000_000, 1 << 30, 1_767_225_600.0, 1.0,
                     [PodUsage("demo", "web", [ContainerUsage("app", 12_000_000, 9 << 20)],
                               1_767_225_600.0, 1.0)])


def test_summary_measures_emptydir_and_containers(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    obj = pod("4Mi")
    volume = emptydir.volume_path(paths.pod_dir("u1"), "shared")
    volume.mkdir(parents=True)
    (volume / "blob").write_bytes(b"x" * (3 << 20))
    pods = summary.measure([worker(obj)], paths, None, cgroups(tmp_path))
    summary.add_rates(pods, usage())
    body = summary.summary("node1", "2026-01-01T00:00:00Z", tmp_path, usage(), pods)
    assert body["node"]["nodeName"] == "node1"
    assert body["node"]["cpu"]["usageNanoCores"] == 500_000_000
    [p] = body["pods"]
    assert p["podRef"] == {"name": "web", "namespace": "demo", "uid": "u1"}
    [c] = p["containers"]
    assert c["name"] == "app"
    assert c["cpu"]["usageNanoCores"] == 12_000_000
    assert c["cpu"]["usageCoreNanoSeconds"] == 2_500_000_000
    assert c["memory"]["workingSetBytes"] == 9 << 20
    assert c["memory"]["usageBytes"] == 10 << 20
    [v] = p["volume"]  # hostPath volumes have no metrics, as upstream
    assert v["name"] == "shared"
    assert v["usedBytes"] >= 3 << 20
    assert v["inodesUsed"] == 2
    assert v["capacityBytes"] >= v["availableBytes"] > 0
    assert p["ephemeral-storage"]["usedBytes"] >= 3 << 20


def test_cadvisor_and_resource_text(tmp_path: Path) -> None:
    root = cgroups(tmp_path)
    base = root / "podhost" / CID
    (base / "cpu.stat").write_text("usage_usec 2500000\nnr_periods 40\nnr_throttled 10\n"
                                   "throttled_usec 1500000\n")
    (base / "memory.stat").write_text("inactive_file 1048576\nanon 3000\nfile 5000\n")
    (base / "memory.swap.current").write_text("7\n")
    (base / "io.stat").write_text("999:9 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 "
                                  "dios=0\n")
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    veth = host_ifname("u1")
    (proc / "net" / "dev").write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n"
        f"  {veth}: 100 2 0 1 0 0 0 0 5000 40 3 4 0 0 0 0\n")
    pods = summary.measure([worker(pod())], NodePaths(tmp_path), None, root, proc)
    got = samples(cadvisor.cadvisor_text(pods))
    labels = (("container", "app"), ("id", f"/podhost/{CID}"),
              ("image", "docker.io/library/nginx:latest"), ("name", CID),
              ("namespace", "demo"), ("pod", "web"))
    assert got[("container_cpu_usage_seconds_total", labels)] == 2.5
    assert got[("container_memory_working_set_bytes", labels)] == 9 << 20
    assert ("container_fs_usage_bytes", tuple(sorted((*labels, ("device", "rootfs"))))) in got
    assert got[("container_cpu_cfs_periods_total", labels)] == 40
    assert got[("container_cpu_cfs_throttled_periods_total", labels)] == 10
    assert got[("container_cpu_cfs_throttled_seconds_total", labels)] == 1.5
    assert got[("container_memory_rss", labels)] == 3000
    assert got[("container_memory_cache", labels)] == 5000
    assert got[("container_memory_swap", labels)] == 7
    device = tuple(sorted((*labels, ("device", "999:9"))))  # no such device: its numbers
    assert got[("container_fs_reads_bytes_total", device)] == 4096
    assert got[("container_fs_writes_total", device)] == 2
    pod_level = (("container", ""), ("id", "/podhost/podu1"), ("image", ""), ("name", ""),
                 ("namespace", "demo"), ("pod", "web"))
    assert got[("container_cpu_usage_seconds_total", pod_level)] == 2.5
    assert got[("container_memory_rss", pod_level)] == 3000
    sandbox = (("container", "POD"), ("id", "/podhost/podu1/sandbox"), ("image", ""),
               ("interface", "eth0"), ("name", "k8s_POD_web_demo_u1_0"),
               ("namespace", "demo"), ("pod", "web"))
    assert got[("container_network_receive_bytes_total", sandbox)] == 5000  # the host end's tx
    assert got[("container_network_receive_packets_total", sandbox)] == 40
    assert got[("container_network_receive_errors_total", sandbox)] == 3
    assert got[("container_network_receive_packets_dropped_total", sandbox)] == 4
    assert got[("container_network_transmit_bytes_total", sandbox)] == 100
    assert got[("container_network_transmit_packets_dropped_total", sandbox)] == 1
    got = samples(summary.resource_text(pods, usage()))
    assert got[("pod_memory_working_set_bytes", (("namespace", "demo"), ("pod", "web")))] == \
        9 << 20
    assert got[("node_memory_working_set_bytes", ())] == 1 << 30


def test_volume_stats_families_once_per_claim() -> None:
    claim = summary.VolumeStats("data", 10, 2, 100, 90, 1000, 998, ("demo", "data"))
    pods = [summary.PodStats("demo", p, p, "", [], [claim]) for p in ("a", "b")]
    text = summary.exposition(volume_stats_families(pods))
    got = samples(text)
    key = (("namespace", "demo"), ("persistentvolumeclaim", "data"))
    assert got[("kubelet_volume_stats_capacity_bytes", key)] == 100
    assert got[("kubelet_volume_stats_available_bytes", key)] == 90
    assert got[("kubelet_volume_stats_inodes_used", key)] == 2
    assert text.count("kubelet_volume_stats_used_bytes{") == 1


def test_endpoints(tmp_path: Path) -> None:
    w = worker(pod(), running=False)

    async def no_usage() -> NodeUsage:
        return NodeUsage(0, 0, 0.0, 1.0)

    ep = NodeEndpoints("node1", NodePaths(tmp_path), {"u1": w}, None, no_usage,
                       NodeMetrics(lambda: [w]))

    async def main() -> None:
        assert await ep.get("healthz") == ("text/plain; charset=utf-8", b"ok")
        kind, body = await ep.get("pods") or ("", b"")
        assert json.loads(body)["items"][0]["metadata"]["name"] == "web"
        assert await ep.get("configz") is None
        kind, body = await ep.get("metrics") or ("", b"")
        assert kind.startswith("text/plain; version=0.0.4")
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert {"kubelet_running_pods", "kubelet_volume_stats_used_bytes",
                "podhost_emptydir_used_bytes"} <= names
        kind, body = await ep.get("stats/summary") or ("", b"")
        assert json.loads(body)["pods"][0]["podRef"]["name"] == "web"

    asyncio.run(main())


def test_adopted_pod_is_not_a_start() -> None:
    m = NodeMetrics()
    m.pod_seen("old", running=True)  # already Running when the node (re)started
    m.pod_running("old")
    m.pod_seen("new")
    m.pod_seen("new", running=True)  # later syncs change nothing
    m.pod_running("new")
    assert samples(m.text())[("kubelet_pod_start_duration_seconds_count", ())] == 1


def test_cadvisor_text_escapes_label_values() -> None:
    family = cadvisor.Family("container_x", "gauge", "A\\help\nline", ["container"])
    family.add_metric(['a"b\\c\nd'], 1.5)
    family.add_metric(["e"], 3.0)
    [parsed] = text_string_to_metric_families(family.text())
    assert parsed.documentation == "A\\help\nline"
    assert [(s.labels["container"], s.value) for s in parsed.samples] == \
        [('a"b\\c\nd', 1.5), ("e", 3.0)]
