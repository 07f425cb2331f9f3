import json
from pathlib import Path

import pytest

from podhost.cli import manifests, wsexec
from podhost.cli.errors import CliError
from podhost.cli.verbs import objects

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def live_of(desired: dict) -> dict:
    live = json.loads(json.dumps(desired))
    live["metadata"].update(uid="u", resourceVersion="5", namespace="default")
    live["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["restartPolicy"] = "Always"
    live["status"] = {"phase": "Running"}
    return live


def test_unchanged_apply_sends_nothing() -> None:
    desired = manifests.with_last_applied(POD)
    live = live_of(desired)
    assert manifests.three_way_patch(manifests.last_applied(live), desired, live) == {}


def test_changed_and_removed_fields() -> None:
    live = live_of(manifests.with_last_applied(POD))
    new = json.loads(json.dumps(POD))
    new["metadata"]["labels"] = {"b": "2"}
    desired = manifests.with_last_applied(new)
    patch = manifests.three_way_patch(manifests.last_applied(live), desired, live)
    assert patch["metadata"]["labels"] == {"b": "2", "a": None}
    assert manifests.LAST_APPLIED in patch["metadata"]["annotations"]
    assert "spec" not in patch


def test_last_applied_is_the_manifest() -> None:
    text = manifests.with_last_applied(POD)["metadata"]["annotations"][manifests.LAST_APPLIED]
    assert json.loads(text) == POD and text.endswith("\n")


def test_read_documents_and_dirs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("kind: Pod\nmetadata: {name: a}\n---\n---\n"
                                     "kind: List\nitems: [{kind: Pod, metadata: {name: b}}]\n")
    (tmp_path / "sub" / "c.json").write_text('{"kind": "Pod", "metadata": {"name": "c"}}')
    (tmp_path / "notes.txt").write_text("x")
    assert manifests.manifest_files(str(tmp_path)) == [str(tmp_path / "a.yaml")]
    files = manifests.manifest_files(str(tmp_path), recursive=True)
    names = [o["metadata"]["name"] for f in files for o in manifests.read_documents(f)]
    assert names == ["a", "b", "c"]
    with pytest.raises(CliError, match='the path "/nope" does not exist'):
        manifests.manifest_files("/nope")


def test_durations_and_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    from podhost.cli import context, discovery
    from tests.unit.cli.test_discovery import server
    monkeypatch.setattr(context, "resources", lambda: discovery.discover(server()))
    assert objects.parse_duration("1m30s") == 90
    assert objects.parse_duration("60") == 60
    assert objects.parse_duration("500ms") == 0.5
    with pytest.raises(CliError):
        objects.parse_duration("soon")
    assert [(r.plural, n) for r, n in objects.targets(["po", "a", "b"])] == \
        [("pods", "a"), ("pods", "b")]
    assert [(r.plural, n) for r, n in objects.targets(["pod/a", "cm/b"])] == \
        [("pods", "a"), ("configmaps", "b")]
    with pytest.raises(CliError, match='resource type "widgets"'):
        objects.targets(["widgets"])
    every = [r.qualified for r, n in objects.targets(["all"])]
    assert every[:2] == ["pod", "service"] and "deployment.apps" in every
    assert [r.qualified for r, _ in objects.targets(["pv,sc,roles"])] == [
        "persistentvolume", "storageclass.storage.k8s.io", "role.rbac.authorization.k8s.io"]


def test_wait_conditions() -> None:
    pod = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert objects.parse_for("condition=Ready") == ("condition", "Ready", "True")
    assert objects.condition_met(pod, "condition", "ready", "true")
    assert not objects.condition_met(pod, "condition", "Ready", "False")
    assert objects.condition_met(pod, *objects.parse_for("jsonpath={.status.phase}=Running")[1:]
                                 and ("jsonpath", "{.status.phase}", "Running"))


def test_exec_exit_codes() -> None:
    assert wsexec.exit_code({"status": "Success"}) == 0
    assert wsexec.exit_code(None) == 0
    failure = {"status": "Failure", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert wsexec.exit_code(failure) == 3
    with pytest.raises(CliError, match="error: Internal error occurred: boom"):
        wsexec.exit_code({"status": "Failure", "reason": "InternalError",
                          "message": "Internal error occurred: boom"})
    assert wsexec.resize_message(80, 24) == b'\x04{"Width": 80, "Height": 24}\n'


def test_yaml_errors_name_the_file_as_kubectl(tmp_path: Path) -> None:
    from podhost.cli.errors import CliError
    from podhost.cli.manifests import read_documents
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: b\n c: d\n")
    with pytest.raises(CliError) as e:
        list(read_documents(str(bad)))
    assert e.value.message == (f"error: error parsing {bad}: error converting YAML to JSON: "
                               "yaml: line 2: mapping values are not allowed in this context")
    assert "<unicode string>" not in e.value.message
