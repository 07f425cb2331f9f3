"""The one write path: ObjectMeta validated for every kind, zero-valued status on create,
namespace deletion of everything the registry serves, controllers as ordinary API users."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from podhost.api import errors
from podhost.api.types import Obj
from podhost.controllers.namespace import NamespaceController
from podhost.registry import generic
from podhost.registry.client import Client
from tests.unit.controllers.test_controllers import running, store_with_default, until


def invalid(resource: str, obj: Obj) -> list[str]:
    with pytest.raises(errors.InvalidError) as e:
        generic.validate(resource, obj)
    return [str(x) for x in e.value.errors]


def cm(**meta: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", **meta}}


def test_labels_annotations_and_finalizers_of_every_kind() -> None:
    assert invalid("configmaps", cm(labels={"bad key!": "x"})) == [
        'metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    assert invalid("configmaps", cm(labels={"a": "v" * 64})) == [
        f'metadata.labels: Invalid value: "{"v" * 64}": must be no more than 63 characters']
    assert invalid("configmaps", cm(annotations={"a": "x" * 300_000})) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"]
    assert invalid("configmaps", cm(finalizers=["custom"])) == [
        'metadata.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer '
        "name nor is it fully qualified"]
    assert invalid("deployments", {"metadata": {"name": "d", "namespace": "default",
                                                "ownerReferences": [{"apiVersion": "v1"}]},
                                   "spec": {}})[:3] == [
        'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty']
    assert invalid("configmaps", {"metadata": {"generateName": "Bad_"}})[:2] == [
        'metadata.generateName: Invalid value: "Bad_": a lowercase RFC 1123 subdomain must '
        "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "metadata.name: Required value: name or generateName is required"]


@pytest.mark.parametrize(("resource", "status"), [
    ("daemonsets", {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                    "desiredNumberScheduled": 0, "numberReady": 0}),
    ("replicasets", {"replicas": 0}),
    ("statefulsets", {"replicas": 0, "availableReplicas": 0}),
    ("deployments", {}),
    ("services", {"loadBalancer": {}}),
])
def test_create_returns_zero_valued_status(resource: str, status: Obj) -> None:
    obj = generic.prepare_for_create(resource, {"metadata": {"name": "x"}, "spec": {}},
                                     "default")
    assert obj["status"] == status


def test_deleting_a_namespace_removes_its_roles_and_bindings(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)
    registry = generic.Registry(store)
    registry.create("namespaces", {"metadata": {"name": "team"}}, None)
    registry.create("roles", {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, "team")
    registry.create("rolebindings", {"metadata": {"name": "rb"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice",
                      "apiGroup": "rbac.authorization.k8s.io"}]}, "team")
    registry.delete("namespaces", "", "team")

    async def go() -> None:
        async with running(NamespaceController(store)):
            await until(lambda: all(ns["metadata"]["name"] != "team"
                                    for ns in store.list("namespaces")[0]))
    asyncio.run(go())
    assert store.list("roles", "team")[0] == [] and store.list("rolebindings", "team")[0] == []


def test_in_process_writers_are_validated_and_own_their_fields(tmp_path: Path) -> None:
    store = store_with_default(tmp_path)
    client = Client(generic.Registry(store), "kube-controller-manager")
    made = client.create("configmaps", {"metadata": {"name": "c", "namespace": "default"},
                                        "data": {"k": "v"}})
    assert [m["manager"] for m in made["metadata"]["managedFields"]] == [
        "kube-controller-manager"]
    with pytest.raises(errors.InvalidError):
        client.create("configmaps", {"metadata": {"name": "Bad_Name", "namespace": "default"}})
    with pytest.raises(errors.NotFoundError):  # NamespaceLifecycle applies to everyone
        client.create("configmaps", {"metadata": {"name": "c", "namespace": "missing"}})
