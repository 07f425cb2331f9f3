"""PriorityClasses and RuntimeClasses through the API with the Priority and RuntimeClass
admission of new Pods."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api import podclasses
from podhost.apiserver.app import ApiServer
from podhost.registry.quota import PodClasses
from tests.unit.apiserver.helpers import call, make_api

PCS = "/apis/scheduling.k8s.io/v1/priorityclasses"
RCS = "/apis/node.k8s.io/v1/runtimeclasses"
PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def api_with_plugin(tmp_path: Path) -> ApiServer:
    api = make_api(tmp_path)
    api.registry.plugins.insert(0, PodClasses())
    for pc in podclasses.system_priority_classes():
        api.registry.create("priorityclasses", pc, None)
    return api


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def pc(name: str, value: int, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, **extra}


def test_priority_classes(tmp_path: Path) -> None:
    async def go() -> None:
        api = api_with_plugin(tmp_path)
        code, status = await call(api, "POST", PCS, pc("system-mine", 10))
        assert code == 422 and "reserved for system use only" in status["message"]
        code, status = await call(api, "POST", PCS, pc("huge", 2_000_000_000))
        assert code == 422 and "maximum allowed value of a user defined priority is " \
            "1000000000" in status["message"]
        assert (await call(api, "POST", PCS, pc("high", 1000, globalDefault=True)))[0] == 201
        code, status = await call(api, "POST", PCS, pc("other", 5, globalDefault=True))
        assert code == 403 and status["message"].endswith(
            "PriorityClass high is already marked as default. Only one default can exist")
        code, created = await call(api, "POST", PODS, pod("a"))
        assert (created["spec"]["priorityClassName"], created["spec"]["priority"]) == \
            ("high", 1000)
        code, created = await call(api, "POST", PODS,
                                   pod("b", priorityClassName="system-node-critical"))
        assert created["spec"]["priority"] == 2_000_001_000
        code, status = await call(api, "POST", PODS, pod("c", priorityClassName="nope"))
        assert (code, status["message"]) == (
            403, 'pods "c" is forbidden: no PriorityClass with name nope was found')
        code, table = await call(api, "GET", PCS, headers={"accept": TABLE})
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    asyncio.run(go())


def test_runtime_classes(tmp_path: Path) -> None:
    async def go() -> None:
        api = api_with_plugin(tmp_path)
        code, _ = await call(api, "POST", RCS, {
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "runc"}, "handler": "runc",
            "overhead": {"podFixed": {"memory": "10Mi"}}})
        assert code == 201
        code, created = await call(api, "POST", PODS, pod("a", runtimeClassName="runc"))
        assert created["spec"]["overhead"] == {"memory": "10Mi"}
        code, status = await call(api, "POST", PODS, pod("b", runtimeClassName="gvisor"))
        assert (code, status["message"]) == (
            403, 'pods "b" is forbidden: pod rejected: RuntimeClass "gvisor" not found')
        code, status = await call(api, "POST", RCS, {
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "bad"}})
        assert code == 422 and "handler: Required value" in status["message"]
    asyncio.run(go())
