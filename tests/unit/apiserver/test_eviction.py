"""PodDisruptionBudgets through the API (validation, table, status) with the disruption
controller, and the pods/eviction subresource: 429 while the budget forbids, a graceful delete
when it allows; cordon's taint from the node lifecycle controller."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api import meta
from podhost.apiserver.app import ApiServer
from podhost.controllers.controller import MANAGER
from podhost.controllers.disruption import DisruptionController
from podhost.controllers.nodelifecycle import NodeLifecycleController
from podhost.registry.client import Client
from tests.unit.apiserver.helpers import call, make_api

PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def budget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


async def running_pod(api: ApiServer, name: str) -> None:
    code, _ = await call(api, "POST", "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert code == 201
    pod = api.store.get("pods", "default", name)
    pod["spec"]["nodeName"] = "testnode"
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": meta.rfc3339()}]}
    api.store.update("pods", pod)


def evict(name: str) -> tuple[str, str, dict[str, Any]]:
    return ("POST", f"/api/v1/namespaces/default/pods/{name}/eviction",
            {"apiVersion": "policy/v1", "kind": "Eviction",
             "metadata": {"name": name, "namespace": "default"}})


def sync(api: ApiServer) -> None:
    DisruptionController(Client(api.registry, MANAGER)).reconcile("default/web")


def test_budget_validation_and_table(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, body = await call(api, "POST", PDBS, budget(minAvailable=1, maxUnavailable=1))
        assert code == 422 and body["details"]["causes"][0]["message"].endswith(
            "minAvailable and maxUnavailable cannot be both set")
        code, created = await call(api, "POST", PDBS, budget(minAvailable="50%"))
        assert code == 201 and created["status"]["disruptionsAllowed"] == 0
        assert created["metadata"]["generation"] == 1
        code, table = await call(api, "GET", PDBS, headers={"accept": TABLE})
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
        assert table["rows"][0]["cells"][:4] == ["web", "50%", "N/A", 0]
    asyncio.run(go())


def test_eviction_refused_then_allowed(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        for name in ("a", "b"):
            await running_pod(api, name)
        await call(api, "POST", PDBS, budget(minAvailable=2))
        sync(api)
        code, pdb = await call(api, "GET", f"{PDBS}/web")
        assert pdb["status"]["currentHealthy"] == 2 and pdb["status"]["expectedPods"] == 2
        assert pdb["status"]["disruptionsAllowed"] == 0
        code, body = await call(api, *evict("a"))
        assert code == 429 and body["reason"] == "TooManyRequests"
        assert body["message"] == ("Cannot evict pod as it would violate the pod's disruption "
                                   "budget.")
        assert body["details"]["causes"][0]["message"] == \
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        await call(api, "PUT", f"{PDBS}/web", {**pdb, "spec": {**pdb["spec"],
                                                               "minAvailable": 1}})
        code, body = await call(api, *evict("a"))
        assert code == 429  # the budget's new generation is not observed yet
        assert "still being processed" in body["details"]["causes"][0]["message"]
        sync(api)
        code, body = await call(api, *evict("a"))
        assert (code, body["status"]) == (201, "Success")
        assert api.store.get("pods", "default", "a")["metadata"].get("deletionTimestamp")
        code, pdb = await call(api, "GET", f"{PDBS}/web")
        assert pdb["status"]["disruptionsAllowed"] == 0 and "a" in pdb["status"]["disruptedPods"]
        code, body = await call(api, *evict("b"))
        assert code == 429
    asyncio.run(go())


def test_eviction_without_budget_and_name_mismatch(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        await running_pod(api, "a")
        method, path, body = evict("a")
        body["metadata"]["name"] = "other"
        code, status = await call(api, method, path, body)
        assert code == 400 and status["message"] == \
            "name in URL does not match name in Eviction object"
        code, _ = await call(api, *evict("a"))
        assert code == 201
        code, discovery = await call(api, "GET", "/api/v1")
        sub = next(r for r in discovery["resources"] if r["name"] == "pods/eviction")
        assert (sub["group"], sub["version"], sub["kind"]) == ("policy", "v1", "Eviction")
    asyncio.run(go())


def test_cordon_taint_follows_unschedulable(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        controller = NodeLifecycleController(Client(api.registry, MANAGER), "testnode")
        await call(api, "PATCH", "/api/v1/nodes/testnode", {"spec": {"unschedulable": True}},
                   headers={"content-type": "application/merge-patch+json"})
        controller.reconcile("testnode")
        node = api.store.get("nodes", "", "testnode")
        assert node["spec"]["taints"] == [{"key": "node.kubernetes.io/unschedulable",
                                           "effect": "NoSchedule"}]
        await call(api, "PATCH", "/api/v1/nodes/testnode", {"spec": {"unschedulable": None}},
                   headers={"content-type": "application/merge-patch+json"})
        controller.reconcile("testnode")
        assert "taints" not in api.store.get("nodes", "", "testnode")["spec"]
    asyncio.run(go())
