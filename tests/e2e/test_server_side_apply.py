"""Server-side apply with real kubectl: managedFields, conflicts, --force-conflicts, pruning."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pod(name: str, image: str = "busybox", labels: str = "app: ssa") -> str:
    key, value = labels.split(": ")
    container = {"name": "c", "image": image, "command": ["sleep", "3600"]}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "labels": {key: value}},
                           "spec": {"restartPolicy": "Never", "containers": [container]}})


def configmap(name: str, data: dict[str, str]) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name}, "data": data})


def managed(node: Node, kind: str, name: str) -> dict[str, dict]:
    obj = json.loads(node.kubectl("get", kind, name, "-o", "json",
                                  "--show-managed-fields").stdout)
    return {f"{e['manager']}/{e['operation']}": e for e in obj["metadata"]["managedFields"]}


def test_client_side_then_server_side_conflict_and_force(node: Node) -> None:
    name = unique("ssa")
    try:
        node.kubectl("apply", "-f", "-", input=pod(name))
        entries = managed(node, "pod", name)
        fields = entries["kubectl-client-side-apply/Update"]["fieldsV1"]
        assert fields["f:spec"]["f:containers"]['k:{"name":"c"}']["."] == {}
        assert "f:image" in fields["f:spec"]["f:containers"]['k:{"name":"c"}']

        changed = pod(name, labels="app: other")
        result = node.kubectl("apply", "--server-side", "-f", "-", input=changed, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith(
            'error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
            "using v1: .metadata.labels.app\nPlease review the fields above--they currently "
            "have other managers.")
        assert "--force-conflicts" in result.stderr

        forced = node.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                              input=changed)
        assert forced.stdout.strip() == f"pod/{name} serverside-applied"
        assert node.kubectl("get", "pod", name, "-o",
                            "jsonpath={.metadata.labels.app}").stdout == "other"
        entries = managed(node, "pod", name)
        assert "f:app" in entries["kubectl/Apply"]["fieldsV1"]["f:metadata"]["f:labels"]
    finally:
        node.kubectl("delete", "pod", name, "--now", "--wait=false", check=False)


def test_first_server_side_apply_migrates_client_side_ownership(node: Node) -> None:
    """kubectl moves kubectl-client-side-apply's fields to its Apply entry (a JSON patch of
    metadata.managedFields), so later server-side applies do not conflict with it."""
    name = unique("ssa-mig")
    try:
        node.kubectl("apply", "-f", "-", input=pod(name))
        same = node.kubectl("apply", "--server-side", "-f", "-", input=pod(name))
        assert same.stdout.strip() == f"pod/{name} serverside-applied"
        entries = managed(node, "pod", name)
        assert "kubectl-client-side-apply/Update" not in entries
        assert 'k:{"name":"c"}' in entries["kubectl/Apply"]["fieldsV1"]["f:spec"]["f:containers"]
        changed = node.kubectl("apply", "--server-side", "-f", "-",
                               input=pod(name, labels="app: other"))
        assert changed.stdout.strip() == f"pod/{name} serverside-applied"
    finally:
        node.kubectl("delete", "pod", name, "--now", "--wait=false", check=False)


def test_server_side_apply_conflict_on_image_names_the_container(node: Node) -> None:
    name = unique("ssa-img")
    try:
        node.kubectl("apply", "-f", "-", input=pod(name))
        result = node.kubectl("apply", "--server-side", "-f", "-",
                              input=pod(name, image="nginx"), check=False)
        assert result.returncode == 1
        assert ('conflict with "kubectl-client-side-apply" using v1: '
                '.spec.containers[name="c"].image') in result.stderr
    finally:
        node.kubectl("delete", "pod", name, "--now", "--wait=false", check=False)


def test_two_field_managers_on_a_configmap(node: Node) -> None:
    name = unique("ssa-cm")
    try:
        created = node.kubectl("apply", "--server-side", "--field-manager=alice", "-f", "-",
                               input=configmap(name, {"a": "1"}))
        assert created.stdout.strip() == f"configmap/{name} serverside-applied"
        node.kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-",
                     input=configmap(name, {"b": "2"}))
        entries = managed(node, "configmap", name)
        assert entries["alice/Apply"]["fieldsV1"] == {"f:data": {"f:a": {}}}
        assert entries["bob/Apply"]["fieldsV1"] == {"f:data": {"f:b": {}}}
        assert entries["alice/Apply"]["apiVersion"] == "v1"
        assert entries["alice/Apply"]["fieldsType"] == "FieldsV1"

        clash = node.kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-",
                             input=configmap(name, {"a": "9", "b": "2"}), check=False)
        assert clash.returncode == 1
        assert 'conflict with "alice": .data.a' in clash.stderr
        # the same value is shared ownership, not a conflict
        node.kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-",
                     input=configmap(name, {"a": "1", "b": "2"}))
        entries = managed(node, "configmap", name)
        assert set(entries["bob/Apply"]["fieldsV1"]["f:data"]) == {"f:a", "f:b"}
        assert entries["alice/Apply"]["fieldsV1"] == {"f:data": {"f:a": {}}}
    finally:
        node.kubectl("delete", "configmap", name, check=False)


def test_dropped_field_is_removed_unless_another_manager_owns_it(node: Node) -> None:
    name = unique("ssa-drop")
    try:
        node.kubectl("apply", "--server-side", "-f", "-",
                     input=configmap(name, {"a": "1", "b": "2", "c": "3"}))
        node.kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                     input=configmap(name, {"c": "3"}))
        node.kubectl("apply", "--server-side", "-f", "-", input=configmap(name, {"a": "1"}))
        data = json.loads(node.kubectl("get", "cm", name, "-o", "json").stdout)["data"]
        assert data == {"a": "1", "c": "3"}
    finally:
        node.kubectl("delete", "configmap", name, check=False)


def test_show_managed_fields_and_update_entries(node: Node) -> None:
    name = unique("ssa-show")
    try:
        node.kubectl("create", "configmap", name, "--from-literal=k=v")
        node.kubectl("label", "configmap", name, "team=x")
        plain = node.kubectl("get", "cm", name, "-o", "yaml").stdout
        assert "managedFields" not in plain
        shown = yaml.safe_load(node.kubectl("get", "cm", name, "-o", "yaml",
                                            "--show-managed-fields").stdout)
        entries = {e["manager"]: e for e in shown["metadata"]["managedFields"]}
        assert entries["kubectl-create"]["operation"] == "Update"
        assert entries["kubectl-create"]["fieldsV1"] == {"f:data": {".": {}, "f:k": {}}}
        assert entries["kubectl-label"]["fieldsV1"] == {
            "f:metadata": {"f:labels": {".": {}, "f:team": {}}}}
        assert entries["kubectl-create"]["time"].endswith("Z")
    finally:
        node.kubectl("delete", "configmap", name, check=False)


def test_server_side_apply_validates_the_merged_object(node: Node) -> None:
    name = unique("ssa-bad")
    bad = pod(name).replace("restartPolicy: Never", "restartPolicy: Sometimes")
    assert bad != pod(name)
    result = node.kubectl("apply", "--server-side", "-f", "-", input=bad, check=False)
    assert result.returncode == 1
    assert "spec.restartPolicy: Unsupported value" in result.stderr
    unknown = pod(name).replace("restartPolicy: Never", "restartPolicy: Never\n  bogus: 1")
    assert unknown != pod(name)
    result = node.kubectl("apply", "--server-side", "-f", "-", input=unknown, check=False)
    assert result.returncode == 1
    assert 'unknown field "spec.bogus"' in result.stderr
