"""ResourceQuota and LimitRange through the API with their admission plugins: a Pod over a
quota is refused with upstream's message, a LimitRange's defaults are injected and its limits
enforced, and the usage controller fills status.used."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.apiserver.app import ApiServer
from podhost.controllers.controller import MANAGER
from podhost.controllers.resourcequota import ResourceQuotaController
from podhost.registry.client import Client
from podhost.registry.quota import LimitRanger, ResourceQuota
from tests.unit.apiserver.helpers import call, make_api

NS = "/api/v1/namespaces/default"


def api_with_plugins(tmp_path: Path) -> ApiServer:
    api = make_api(tmp_path)
    api.registry.plugins[:0] = [LimitRanger(), ResourceQuota()]
    return api


def pod(name: str, **resources: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container]}}


def test_pod_over_the_quota_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        api = api_with_plugins(tmp_path)
        code, _ = await call(api, "POST", f"{NS}/resourcequotas", {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "2"}}})
        assert code == 201
        for name in ("a", "b"):
            assert (await call(api, "POST", f"{NS}/pods", pod(name)))[0] == 201
        code, status = await call(api, "POST", f"{NS}/pods", pod("c"))
        assert (code, status["reason"]) == (403, "Forbidden")
        assert status["message"] == ('pods "c" is forbidden: exceeded quota: q, requested: '
                                     "pods=1, used: pods=2, limited: pods=2")
        ResourceQuotaController(Client(api.registry, MANAGER)).reconcile("default/q")
        code, q = await call(api, "GET", f"{NS}/resourcequotas/q")
        assert q["status"] == {"hard": {"pods": "2"}, "used": {"pods": "2"}}
    asyncio.run(go())


def test_quota_on_requests_needs_them(tmp_path: Path) -> None:
    async def go() -> None:
        api = api_with_plugins(tmp_path)
        await call(api, "POST", f"{NS}/resourcequotas", {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "cpu"},
            "spec": {"hard": {"requests.cpu": "1", "limits.memory": "1Gi"}}})
        code, status = await call(api, "POST", f"{NS}/pods", pod("none"))
        assert status["message"] == ('pods "none" is forbidden: failed quota: cpu: must specify '
                                     "limits.memory for: c; requests.cpu for: c")
        big = pod("big", requests={"cpu": "800m"}, limits={"cpu": "800m", "memory": "512Mi"})
        assert (await call(api, "POST", f"{NS}/pods", big))[0] == 201
        more = pod("more", requests={"cpu": "300m"}, limits={"cpu": "300m", "memory": "64Mi"})
        code, status = await call(api, "POST", f"{NS}/pods", more)
        assert status["message"] == ('pods "more" is forbidden: exceeded quota: cpu, requested: '
                                     "requests.cpu=300m, used: requests.cpu=800m, limited: "
                                     "requests.cpu=1")
    asyncio.run(go())


def test_limit_range_defaults_and_limits(tmp_path: Path) -> None:
    async def go() -> None:
        api = api_with_plugins(tmp_path)
        code, lr = await call(api, "POST", f"{NS}/limitranges", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"},
                                 "defaultRequest": {"cpu": "100m"},
                                 "maxLimitRequestRatio": {"cpu": "10"}}]}})
        assert code == 201 and lr["spec"]["limits"][0]["default"] == {"cpu": "1"}
        code, created = await call(api, "POST", f"{NS}/pods", pod("d"))
        assert created["spec"]["containers"][0]["resources"] == {
            "limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}
        assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
            "LimitRanger plugin set: cpu request for container c; cpu limit for container c")
        code, status = await call(api, "POST", f"{NS}/pods",
                                  pod("big", limits={"cpu": "2"}, requests={"cpu": "2"}))
        assert code == 403 and status["message"] == (
            'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2')
        code, status = await call(api, "POST", f"{NS}/pods",
                                  pod("ratio", limits={"cpu": "1"}, requests={"cpu": "50m"}))
        assert status["message"] == ('pods "ratio" is forbidden: cpu max limit to request ratio '
                                     "per Container is 10, but provided ratio is 20.000000")
        code, status = await call(api, "POST", f"{NS}/limitranges", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bad"},
            "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"},
                                 "max": {"cpu": "1"}}]}})
        assert code == 422 and "min value 2 is greater than max value 1" in status["message"]
    asyncio.run(go())
