"""metrics.k8s.io/v1beta1: discovery, PodMetrics and NodeMetrics objects (apiserver/metrics.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from podhost.api.nodeapi import ContainerUsage, NodeUsage, PodUsage
from podhost.apiserver import discovery, metrics
from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Response
from podhost.store.sqlite import Store
from tests.unit.apiserver.helpers import FACTS, TOKEN, FakeNode, call, request

BASE = "/apis/metrics.k8s.io/v1beta1"
T = 1767225600.0  # 2026-01-01T00:00:00Z


class MeteredNode(FakeNode):
    async def usage(self) -> NodeUsage:
        pods = [PodUsage("default", "web", [ContainerUsage("app", 1234567, 10240 * 1024),
                                            ContainerUsage("side", 0, 4096)], T, 1.5),
                PodUsage("other", "db", [ContainerUsage("db", 5_000_000, 3 * 2**20)], T, 1.5),
                PodUsage("default", "gone", [ContainerUsage("x", 1, 1)], T, 1.5)]
        return NodeUsage(2_000_000_000, 2**30, T, 1.5, pods)


def pod(name: str, ns: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}


def api_with_pods(tmp: Path) -> ApiServer:
    api = ApiServer(Store(tmp / "db.sqlite"), MeteredNode(), token=TOKEN, node_facts=FACTS)

    async def seed() -> None:
        await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
        for body in (pod("web", "default", app="web"), pod("idle", "default", app="web"),
                     pod("db", "other", app="db")):
            code, _ = await call(api, "POST", f"/api/v1/namespaces/{body['metadata']['namespace']}"
                                              "/pods", body)
            assert code == 201
    asyncio.run(seed())
    return api


def get(api: ApiServer, target: str) -> tuple[int, Any]:
    return asyncio.run(call(api, "GET", target))


@pytest.mark.parametrize("nanocores,text", [(1234567, "1234567n"), (5_000_000, "5m"),
                                            (0, "0"), (2_000_000_000, "2"), (1500, "1500n")])
def test_cpu_quantity(nanocores: int, text: str) -> None:
    assert metrics.cpu_quantity(nanocores) == text


@pytest.mark.parametrize("size,text", [(10241 * 1024, "10241Ki"), (10 * 2**20, "10Mi"),
                                       (1000, "1000"), (0, "0"), (12345, "12345")])
def test_memory_quantity(size: int, text: str) -> None:
    assert metrics.memory_quantity(size) == text


@pytest.mark.parametrize("seconds,text", [(1.5, "1.5s"), (15, "15s"), (60.5, "1m0.5s"),
                                          (0, "0s"), (1.002345, "1.002345s"), (3600, "1h0m0s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert metrics.go_duration(seconds) == text


def test_legacy_and_aggregated_discovery_list_the_group(tmp_path: Path) -> None:
    api = api_with_pods(tmp_path)
    code, groups = get(api, "/apis")
    by_name = {g["name"]: g for g in groups["groups"]}
    assert code == 200 and "metrics.k8s.io" in by_name  # beside the groups of the registry
    assert by_name["metrics.k8s.io"]["preferredVersion"]["groupVersion"] == \
        "metrics.k8s.io/v1beta1"
    accept = (f"{discovery.AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;"
              "as=APIGroupDiscoveryList,application/json")
    resp = asyncio.run(api.handle(request("GET", "/apis", headers={"Accept": accept})))
    assert isinstance(resp, Response) and resp.content_type == discovery.AGGREGATED
    [item] = [i for i in json.loads(resp.body)["items"]
              if i["metadata"]["name"] == "metrics.k8s.io"]
    assert {r["resource"]: r["scope"] for r in item["versions"][0]["resources"]} == \
        {"nodes": "Cluster", "pods": "Namespaced"}
    assert not discovery.wants_aggregated("application/json")
    code, group = get(api, "/apis/metrics.k8s.io")
    assert code == 200 and group["kind"] == "APIGroup"
    code, resources = get(api, BASE)
    assert {r["name"]: r["kind"] for r in resources["resources"]} == \
        {"nodes": "NodeMetrics", "pods": "PodMetrics"}


def test_pod_metrics_in_a_namespace_and_across(tmp_path: Path) -> None:
    api = api_with_pods(tmp_path)
    code, listed = get(api, f"{BASE}/namespaces/default/pods")
    assert code == 200 and listed["kind"] == "PodMetricsList"
    [web] = listed["items"]  # idle has no usage, gone is not in the store
    assert web["metadata"]["labels"] == {"app": "web"}
    assert (web["timestamp"], web["window"]) == ("2026-01-01T00:00:00Z", "1.5s")
    assert web["containers"] == [{"name": "app", "usage": {"cpu": "1234567n", "memory": "10Mi"}},
                                 {"name": "side", "usage": {"cpu": "0", "memory": "4Ki"}}]
    code, everywhere = get(api, f"{BASE}/pods")
    assert sorted(p["metadata"]["name"] for p in everywhere["items"]) == ["db", "web"]
    code, selected = get(api, f"{BASE}/pods?labelSelector=app%3Ddb")
    assert [p["metadata"]["namespace"] for p in selected["items"]] == ["other"]


def test_pod_metrics_get_and_not_found(tmp_path: Path) -> None:
    api = api_with_pods(tmp_path)
    code, db = get(api, f"{BASE}/namespaces/other/pods/db")
    assert code == 200 and db["kind"] == "PodMetrics"
    assert db["containers"][0]["usage"] == {"cpu": "5m", "memory": "3Mi"}
    for name in ("idle", "nope"):
        code, status = get(api, f"{BASE}/namespaces/default/pods/{name}")
        assert code == 404 and status["message"] == \
            f'podmetrics.metrics.k8s.io "{name}" not found'


def test_node_metrics(tmp_path: Path) -> None:
    api = api_with_pods(tmp_path)
    code, nodes = get(api, f"{BASE}/nodes")
    [node] = nodes["items"]
    assert node["kind"] == "NodeMetrics" and node["metadata"]["name"] == "testnode"
    assert node["usage"] == {"cpu": "2", "memory": "1Gi"}
    code, one = get(api, f"{BASE}/nodes/testnode")
    assert code == 200 and one["window"] == "1.5s"
    assert get(api, f"{BASE}/nodes/other")[0] == 404
    assert get(api, f"{BASE}/nodes?labelSelector=nope%3D1")[1]["items"] == []
