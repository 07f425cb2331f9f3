"""The EndpointSlice controller over a real Store, without the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api import endpoints, service
from podhost.api.types import Obj
from podhost.controllers.endpointslice import EndpointSliceController
from podhost.registry import generic
from podhost.store.sqlite import Store
from tests.unit.controllers.test_controllers import running, store_with_default, until


def make_pod(name: str, ip: str, ready: bool = True) -> Obj:
    obj: Obj = {"metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx",
                                         "ports": [{"containerPort": 8080, "name": "http"}]}]}}
    pod = generic.prepare_for_create("pods", obj, "default")
    pod["status"] = {"phase": "Running", "podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    return pod


def make_service(**spec: Any) -> Obj:
    obj: Obj = {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}], **spec}}
    svc = generic.prepare_for_create("services", obj, "default")
    svc["spec"]["clusterIP"] = "10.96.0.20"
    return service.default_service(svc)


def slices(store: Store) -> list[Obj]:
    return store.list("endpointslices", "default")[0]


def test_slices_follow_pods_and_go_with_the_service(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)

    async def scenario() -> None:
        store.create("pods", make_pod("a", "10.244.0.2"))
        store.create("services", make_service())
        async with running(EndpointSliceController(store, "192.0.2.2")):
            await until(lambda: len(slices(store)) == 1 and
                        len(slices(store)[0]["endpoints"]) == 1)
            [es] = slices(store)
            assert es["metadata"]["labels"][endpoints.SERVICE_NAME_LABEL] == "web"
            assert es["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
            store.create("pods", make_pod("b", "10.244.0.3", ready=False))
            await until(lambda: len(slices(store)[0]["endpoints"]) == 2)
            ep = store.get("endpoints", "default", "web")
            assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["10.244.0.2"]
            assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == ["10.244.0.3"]
            store.delete("services", "default", "web")
            await until(lambda: not slices(store))
            await until(lambda: not store.list("endpoints", "default")[0])

    asyncio.run(scenario())


def test_a_load_balancer_gets_the_nodes_address(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)

    async def scenario() -> None:
        store.create("services", make_service(type="LoadBalancer"))
        async with running(EndpointSliceController(store, "192.0.2.2")):
            await until(lambda: store.get("services", "default", "web")["status"]
                        .get("loadBalancer", {}).get("ingress") is not None)
        assert store.get("services", "default", "web")["status"]["loadBalancer"] == {
            "ingress": [{"ip": "192.0.2.2", "ipMode": "VIP"}]}

    asyncio.run(scenario())
