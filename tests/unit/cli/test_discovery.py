"""The CLI's resource names come from the server's discovery documents (podhost's own here,
served as /api/v1 and aggregated /apis), as kubectl's RESTMapper and category expander."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.apiserver import discovery as served
from podhost.cli import discovery


def server(aggregated: bool = True) -> Any:
    calls: list[str] = []

    def get(path: str, accept: str = "") -> Any:
        calls.append(path)
        if path == "/api/v1":
            return served.api_resource_list()
        if path == "/apis":
            return served.api_group_discovery_list() if aggregated and \
                served.wants_aggregated(accept) else served.api_group_list()
        if path.startswith("/apis/metrics.k8s.io/"):
            return served.metrics.api_resource_list()
        return served.group_document(path)

    get.calls = calls  # type: ignore[attr-defined]
    return get


@pytest.fixture(scope="module")
def resources() -> list[discovery.Resource]:
    return discovery.discover(server())


@pytest.mark.parametrize("name, plural, gv", [
    ("pods", "pods", "v1"), ("po", "pods", "v1"), ("Pod", "pods", "v1"),
    ("pv", "persistentvolumes", "v1"), ("sc", "storageclasses", "storage.k8s.io/v1"),
    ("roles", "roles", "rbac.authorization.k8s.io/v1"),
    ("deploy", "deployments", "apps/v1"), ("deployments.apps", "deployments", "apps/v1"),
    ("deployments.v1.apps", "deployments", "apps/v1"), ("pods.v1", "pods", "v1"),
    ("events", "events", "v1"), ("pods.metrics.k8s.io", "pods", "metrics.k8s.io/v1beta1"),
    ("cj", "cronjobs", "batch/v1"), ("pvc", "persistentvolumeclaims", "v1"),
])
def test_names_match_as_kubectl(resources: list[discovery.Resource], name: str, plural: str,
                                gv: str) -> None:
    found = discovery.match(resources, name)
    assert found is not None and (found.plural, found.group_version) == (plural, gv)


def test_unknown_and_subresources_do_not_match(resources: list[discovery.Resource]) -> None:
    assert discovery.match(resources, "widgets") is None
    assert discovery.match(resources, "pods.apps") is None
    assert all("/" not in r.plural for r in resources)


def test_category_all_is_kubectls(resources: list[discovery.Resource]) -> None:
    names = [r.qualified for r in discovery.category(resources, "all")]
    assert names[:2] == ["pod", "service"]
    assert {"deployment.apps", "replicaset.apps", "statefulset.apps", "daemonset.apps",
            "job.batch", "cronjob.batch"} <= set(names)
    assert "secret" not in names and "configmap" not in names


def test_older_servers_are_asked_group_by_group() -> None:
    get = server(aggregated=False)
    old = discovery.discover(get)
    assert {r.qualified for r in old} == {r.qualified for r in discovery.discover(server())}
    assert "/apis/apps/v1" in get.calls
