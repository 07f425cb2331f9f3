"""The API server's own `/metrics` (apiserver/servermetrics.py): kube-apiserver's names, labels
and buckets, counted at the dispatch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Response, StreamResponse
from podhost.apiserver.servermetrics import ServerMetrics, request_info
from podhost.store.sqlite import Store
from tests.unit.apiserver.helpers import FACTS, TOKEN, FakeNode, call, request


class NodeWithMetrics(FakeNode):
    async def metrics_text(self) -> str:
        return "# HELP podhost_running_pods Pods.\n# TYPE podhost_running_pods gauge\n" \
            "podhost_running_pods 0\n"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def find(text: str, name: str, **labels: str) -> list[float]:
    want = set(labels.items())
    return [v for (n, lab), v in samples(text).items() if n == name and want <= lab]


@pytest.mark.parametrize("method,target,headers,expected", [
    ("GET", "/api/v1/namespaces/default/pods", {},
     ("LIST", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/pods?watch=true", {}, ("WATCH", "", "v1", "pods", "", "cluster")),
    ("GET", "/api/v1/watch/namespaces/default/pods", {},
     ("WATCH", "", "v1", "pods", "", "namespace")),
    ("GET", "/apis/apps/v1/namespaces/default/deployments/web", {},
     ("GET", "apps", "v1", "deployments", "", "resource")),
    ("POST", "/api/v1/namespaces/default/pods", {}, ("POST", "", "v1", "pods", "", "resource")),
    ("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
     {"content-type": "application/apply-patch+yaml"},
     ("APPLY", "apps", "v1", "deployments", "scale", "resource")),
    ("PATCH", "/api/v1/nodes/n1/status", {"content-type": "application/merge-patch+json"},
     ("PATCH", "", "v1", "nodes", "status", "resource")),
    ("DELETE", "/api/v1/namespaces/default/pods", {},
     ("DELETE", "", "v1", "pods", "", "namespace")),
    ("PUT", "/api/v1/namespaces/gone/finalize", {},
     ("PUT", "", "v1", "namespaces", "finalize", "resource")),
    ("GET", "/api/v1/namespaces/kube-system", {},
     ("GET", "", "v1", "namespaces", "", "resource")),
    ("GET", "/healthz", {}, ("GET", "", "", "", "/healthz", "")),
    ("GET", "/apis/apps/v1", {}, ("GET", "", "", "", "", "")),
    ("BREW", "/api/v1/pods", {}, ("other", "", "v1", "pods", "", "cluster")),
])
def test_request_info_is_kube_apiservers(method: str, target: str, headers: dict[str, str],
                                         expected: tuple[str, ...]) -> None:
    info = request_info(request(method, target, headers=headers))
    assert (info.verb, info.group, info.version, info.resource, info.subresource,
            info.scope) == expected


@pytest.mark.parametrize("target,long_running", [
    ("/api/v1/pods?watch=1", True), ("/api/v1/namespaces/d/pods/p/exec", True),
    ("/api/v1/namespaces/d/pods/p/log", True), ("/api/v1/nodes/n/proxy/metrics", True),
    ("/api/v1/namespaces/d/pods/p", False), ("/api/v1/pods?watch=false", False)])
def test_long_running_requests(target: str, long_running: bool) -> None:
    assert request_info(request("GET", target)).long_running is long_running


def test_dry_run_label() -> None:
    assert request_info(request("POST", "/api/v1/namespaces/d/pods?dryRun=All")).dry_run == "All"
    assert request_info(request("POST", "/api/v1/namespaces/d/pods?dryRun=x")).dry_run == \
        "invalid"
    assert request_info(request("POST", "/api/v1/namespaces/d/pods")).dry_run == ""


def test_metrics_count_requests_with_upstream_labels(tmp_path: Path) -> None:
    async def run() -> str:
        api = ApiServer(Store(tmp_path / "db.sqlite"), NodeWithMetrics(), token=TOKEN,
                        node_facts=FACTS)
        await call(api, "GET", "/api/v1/namespaces/default/pods")
        await call(api, "GET", "/api/v1/namespaces/default/pods/nope")
        await call(api, "POST", "/api/v1/namespaces/default/configmaps",
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        resp = await api.handle(request("GET", "/metrics"))
        assert isinstance(resp, Response) and resp.status == 200
        return resp.body.decode()

    text = asyncio.run(run())
    base = {"group": "", "version": "v1", "component": "apiserver", "dry_run": ""}
    assert find(text, "apiserver_request_total", verb="LIST", resource="pods",
                scope="namespace", code="200", subresource="", **base) == [1.0]
    assert find(text, "apiserver_request_total", verb="GET", resource="pods",
                scope="resource", code="404", **base) == [1.0]
    assert find(text, "apiserver_request_total", verb="POST", resource="configmaps",
                code="201", **base) == [1.0]
    assert find(text, "apiserver_request_duration_seconds_count", verb="LIST",
                resource="pods") == [1.0]
    assert find(text, "apiserver_request_duration_seconds_bucket", verb="LIST", le="60.0") == \
        [1.0]
    assert find(text, "apiserver_request_sli_duration_seconds_bucket", verb="POST",
                le="+Inf") == [1.0]
    assert find(text, "apiserver_response_sizes_count", verb="LIST", resource="pods") == [1.0]
    assert find(text, "apiserver_current_inflight_requests", request_kind="mutating") == [1.0]
    assert find(text, "apiserver_storage_objects", resource="configmaps") == [1.0]
    assert find(text, "apiserver_storage_objects", resource="nodes") == [1.0]
    assert find(text, "process_resident_memory_bytes")[0] > 0
    assert find(text, "podhost_running_pods") == [0.0]
    assert "kubelet_volume_stats" not in text
    assert "_created" not in text


def test_a_watch_is_long_running_until_its_stream_ends(tmp_path: Path) -> None:
    metrics = ServerMetrics(Store(tmp_path / "db.sqlite"))
    release = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type":"ADDED"}\n'
        await release.wait()

    async def handler(_request: object) -> StreamResponse:
        return StreamResponse(200, chunks())

    async def run() -> tuple[list[float], list[float], list[float]]:
        answer = await metrics.instrument(request("GET", "/api/v1/pods?watch=1"), handler)
        assert isinstance(answer, StreamResponse)
        it = answer.chunks.__aiter__()
        await it.__anext__()
        during = find(metrics.text(), "apiserver_longrunning_requests", verb="WATCH",
                      resource="pods", scope="cluster")
        counted = find(metrics.text(), "apiserver_request_total", verb="WATCH")
        release.set()
        async for _ in it:
            pass
        return during, counted, find(metrics.text(), "apiserver_longrunning_requests",
                                     verb="WATCH")

    during, counted, after = asyncio.run(run())
    assert during == [1.0] and counted == [] and after == [0.0]
    assert find(metrics.text(), "apiserver_request_total", verb="WATCH", code="200") == [1.0]
