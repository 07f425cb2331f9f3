"""The NetworkPolicy agent's picture of the store: Pods by the node's addresses (before their
status has one), finished and hostNetwork Pods left out, nothing read without policies."""

from __future__ import annotations

from typing import Any

from podhost.network.policy import Model
from podhost.node.policies import PolicyAgent


class Store:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects, self.listed = objects, []  # type: list[str]

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[Any], int]:
        self.listed.append(resource)
        return self.objects.get(resource, []), 1


class Table:
    def __init__(self) -> None:
        self.models: list[Model] = []

    def apply(self, model: Model) -> bool:
        self.models.append(model)
        return True


def pod(name: str, uid: str, phase: str = "Running", ip: str = "", **spec: Any) -> Any:
    return {"metadata": {"name": name, "namespace": "x", "uid": uid, "labels": {"app": name}},
            "spec": {"containers": [], **spec}, "status": {"phase": phase, "podIP": ip}}


def test_the_model_from_the_store_and_the_node() -> None:
    deny = {"metadata": {"name": "deny", "namespace": "x"}, "spec": {"podSelector": {}}}
    store = Store({"networkpolicies": [deny], "namespaces": [{"metadata": {"name": "x"}}],
                   "pods": [pod("new", "u1"), pod("old", "u2", ip="10.244.0.9"),
                            pod("done", "u3", "Succeeded", "10.244.0.10"),
                            pod("host", "u4", ip="10.0.0.1", hostNetwork=True)]})
    table = Table()
    agent = PolicyAgent(store, table, lambda: {"u1": "10.244.0.5"})  # type: ignore[arg-type]
    agent.pod_network_changed()
    [model] = table.models
    assert model.ingress.isolated == {0x0AF40005, 0x0AF40009}
    assert agent.synced.is_set()


def test_without_policies_the_pods_are_not_read() -> None:
    store = Store({"pods": [pod("a", "u1", ip="10.244.0.5")]})
    table = Table()
    PolicyAgent(store, table, dict).sync()  # type: ignore[arg-type]
    assert store.listed == ["networkpolicies"]
    assert table.models[0].ingress.isolated == set()
