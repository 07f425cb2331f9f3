"""managedFields and server-side apply, as structured-merge-diff computes them."""

from __future__ import annotations

import copy

import pytest

from podhost.api import errors
from podhost.api import managedfields as mf

Obj = dict


def pod(image: str = "busybox", labels: dict | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": labels or {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": image,
                                     "ports": [{"containerPort": 80}],
                                     "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Pending"}}


def with_managed(obj: Obj, entries: list[Obj]) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"]["managedFields"] = entries
    return out


def created(obj: Obj, manager: str = "kubectl-client-side-apply") -> Obj:
    return with_managed(obj, mf.updated("pods", None, obj, manager, "2024-01-01T00:00:00Z"))


def test_update_on_create_encodes_fields_v1_like_the_api_server() -> None:
    [entry] = mf.updated("pods", None, pod(), "kubectl-create", "2024-01-01T00:00:00Z")
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} \
        == {"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
            "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {'k:{"name":"c"}': {
            ".": {}, "f:env": {".": {}, 'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
            "f:image": {}, "f:name": {},
            "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                ".": {}, "f:containerPort": {}}}}}}}


def test_status_and_server_metadata_are_not_tracked() -> None:
    [entry] = mf.updated("pods", None, pod(), "m", "t")
    assert "f:status" not in entry["fieldsV1"]
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]


def test_update_owns_only_what_changed_and_merges_entries() -> None:
    live = created(pod())
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["team"] = "x"
    entries = mf.updated("pods", live, new, "kubectl-label", "t2")
    label = next(e for e in entries if e["manager"] == "kubectl-label")
    assert label["fieldsV1"] == {"f:metadata": {"f:labels": {"f:team": {}}}}
    again = with_managed(new, entries)
    newer = copy.deepcopy(again)
    newer["metadata"]["labels"]["more"] = "y"
    entries = mf.updated("pods", again, newer, "kubectl-label", "t3")
    labels = [e for e in entries if e["manager"] == "kubectl-label"]
    assert len(labels) == 1
    assert labels[0]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:more": {}, "f:team": {}}}}
    assert labels[0]["time"] == "t3"


def test_a_changed_field_moves_to_the_writer() -> None:
    live = created(pod())
    new = copy.deepcopy(live)
    new["spec"]["containers"][0]["image"] = "nginx"
    entries = {e["manager"]: e for e in mf.updated("pods", live, new, "kubectl-set", "t")}
    assert entries["kubectl-set"]["fieldsV1"] == {
        "f:spec": {"f:containers": {'k:{"name":"c"}': {"f:image": {}}}}}
    assert "f:image" not in \
        entries["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]["f:containers"][
            'k:{"name":"c"}']


def test_no_change_adds_no_entry() -> None:
    live = created(pod())
    assert mf.updated("pods", live, copy.deepcopy(live), "other", "t") == \
        live["metadata"]["managedFields"]


def test_managed_fields_sent_by_the_client_are_kept() -> None:
    live = created(pod())
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "t",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]
    entries = mf.updated("pods", live, new, "kubectl", "t2")
    assert [e["manager"] for e in entries] == ["kubectl"]


def test_apply_conflict_status_is_worded_as_kubernetes() -> None:
    live = created(pod())
    with pytest.raises(errors.ConflictError) as err:
        mf.apply("pods", live, pod(image="nginx"), "kubectl", False, "t")
    status = err.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == ('Apply failed with 1 conflict: conflict with '
                                 '"kubectl-client-side-apply" using v1: '
                                 '.spec.containers[name="c"].image')
    assert status["details"]["causes"] == [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-client-side-apply" using v1',
        "field": '.spec.containers[name="c"].image'}]


def test_several_conflicts_are_listed_by_manager() -> None:
    live = created(pod())
    with pytest.raises(errors.ConflictError) as err:
        mf.apply("pods", live, pod(image="nginx", labels={"app": "b"}), "kubectl", False, "t")
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using v1:\n'
        "- .metadata.labels.app\n"
        '- .spec.containers[name="c"].image')


def test_apply_manager_is_named_without_api_version() -> None:
    live = with_managed(pod(), [])
    merged, entries = mf.apply("pods", live, pod(), "alice", False, "t")
    live = with_managed(merged, entries)
    with pytest.raises(errors.ConflictError) as err:
        mf.apply("pods", live, pod(image="nginx"), "bob", False, "t")
    assert 'conflict with "alice": .spec.containers[name="c"].image' in err.value.message


def test_same_value_is_shared_and_force_takes_ownership() -> None:
    live = created(pod())
    merged, entries = mf.apply("pods", live, pod(), "kubectl", False, "t")
    assert {e["manager"] for e in entries} == {"kubectl", "kubectl-client-side-apply"}
    merged, entries = mf.apply("pods", live, pod(image="nginx"), "kubectl", True, "t")
    assert merged["spec"]["containers"][0]["image"] == "nginx"
    csa = next(e for e in entries if e["manager"] == "kubectl-client-side-apply")
    assert "f:image" not in csa["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    applied = next(e for e in entries if e["manager"] == "kubectl")
    assert applied["operation"] == "Apply" and applied["time"] == "t"


def cm(data: dict) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_fields_dropped_from_the_configuration_are_removed_unless_owned() -> None:
    obj, entries = mf.apply("configmaps", None, cm({"a": "1", "b": "2", "c": "3"}), "m", False,
                            "t")
    obj, entries = mf.apply("configmaps", with_managed(obj, entries), cm({"c": "3"}), "other",
                            False, "t")
    obj, entries = mf.apply("configmaps", with_managed(obj, entries), cm({"a": "1"}), "m",
                            False, "t")
    assert obj["data"] == {"a": "1", "c": "3"}
    assert {e["manager"]: e["fieldsV1"] for e in entries} == {
        "m": {"f:data": {"f:a": {}}}, "other": {"f:data": {"f:c": {}}}}


def test_dropping_a_list_item_removes_it() -> None:
    two = pod()
    two["spec"]["containers"].append({"name": "d", "image": "nginx"})
    obj, entries = mf.apply("pods", None, two, "m", False, "t")
    obj, _ = mf.apply("pods", with_managed(obj, entries), pod(), "m", False, "t")
    assert [c["name"] for c in obj["spec"]["containers"]] == ["c"]


def test_merge_keeps_other_fields_and_merges_lists_by_key() -> None:
    live = pod()
    live["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    config = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
              "spec": {"containers": [{"name": "c", "image": "nginx"},
                                      {"name": "d", "image": "busybox"}]}}
    merged = mf.merge("pods", live, config)
    first = merged["spec"]["containers"][0]
    assert first["image"] == "nginx" and first["imagePullPolicy"] == "Always"
    assert first["env"] == [{"name": "A", "value": "1"}]
    assert [c["name"] for c in merged["spec"]["containers"]] == ["c", "d"]


def test_atomic_lists_and_set_lists() -> None:
    obj = {"metadata": {"finalizers": ["x"]},
           "spec": {"containers": [{"name": "c", "command": ["a", "b"]}]}}
    paths = mf.field_set("pods", obj)
    assert ("f:metadata", "f:finalizers", 'v:"x"') in paths
    assert ("f:spec", "f:containers", 'k:{"name":"c"}', "f:command") in paths


def test_fields_v1_round_trip_and_path_strings() -> None:
    paths = mf.field_set("pods", pod())
    assert mf.decode_fields(mf.encode_fields(paths)) == paths
    assert mf.path_string(("f:spec", "f:containers", 'k:{"containerPort":80,"protocol":"TCP"}',
                           "f:x")) == '.spec.containers[containerPort=80,protocol="TCP"].x'
    assert mf.path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'


def test_manager_name_from_user_agent() -> None:
    assert mf.manager_name(None, "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07") == "kubectl"
    assert mf.manager_name("mine", "kubectl/v1.32") == "mine"
    assert mf.manager_name(None, None) == ""


def test_entries_are_sorted_apply_first() -> None:
    managers = mf.decode_managers([
        {"manager": "z", "operation": "Update", "time": "t1", "fieldsV1": {"f:a": {}}},
        {"manager": "y", "operation": "Apply", "time": "t2", "fieldsV1": {"f:b": {}}}])
    assert [e["manager"] for e in mf.encode_managers(managers)] == ["y", "z"]
