"""The kubelet's endpoints through the node proxy (apiserver/nodeproxy.py) and their
authorization: nodes/proxy as kube-apiserver checks it, nodes/metrics and nodes/stats as a
kubelet checks them on its own port."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api.rbac import User
from podhost.apiserver import nodeproxy
from tests.unit.apiserver.helpers import FakeNode, call, make_api, request


class MetricsNode(FakeNode):
    async def node_endpoint(self, path: str) -> tuple[str, bytes] | None:
        if path == "metrics":
            return "text/plain; version=0.0.4; charset=utf-8", b"kubelet_running_pods 1\n"
        return None


def api(tmp: Path) -> Any:
    server = make_api(tmp)
    server.node = MetricsNode()
    return server


def test_routes_to_the_node(tmp_path: Path) -> None:
    server = api(tmp_path)

    async def main() -> None:
        code, body = await call(server, "GET", "/api/v1/nodes/testnode/proxy/metrics")
        assert code == 200 and body == b"kubelet_running_pods 1\n"
        code, body = await call(server, "GET", "/api/v1/nodes/other/proxy/metrics")
        assert code == 404 and body["message"] == 'nodes "other" not found'
        code, _ = await call(server, "POST", "/api/v1/nodes/testnode/proxy/metrics", b"")
        assert code == 405
        code, _ = await call(server, "GET", "/api/v1/nodes/testnode/proxy/metrics/cadvisor")
        assert code == 404  # this fake node serves only /metrics

    asyncio.run(main())


def test_kubelet_attributes() -> None:
    user = User("scraper")
    for path, sub in (("metrics", "metrics"), ("metrics/cadvisor", "metrics"),
                      ("metrics/resource", "metrics"), ("stats/summary", "stats"),
                      ("healthz", None), ("pods", None)):
        got = nodeproxy.kubelet_attributes(request("GET", f"/api/v1/nodes/n1/proxy/{path}"),
                                           user)
        if sub is None:
            assert got is None, path
        else:
            assert got is not None and (got.verb, got.resource, got.subresource, got.name) == \
                ("get", "nodes", sub, "n1"), path
    assert nodeproxy.kubelet_attributes(request("GET", "/api/v1/nodes/n1/proxy/podhost/x"),
                                        user) is None
