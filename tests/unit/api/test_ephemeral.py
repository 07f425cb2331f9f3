"""Ephemeral containers: upstream's validation texts and the subresource's update strategy."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podhost.api import defaults, ephemeral, errors, validation
from podhost.registry import generic


def pod(*ephemerals: dict[str, Any]) -> dict[str, Any]:
    p = defaults.default_pod({"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": {
        "containers": [{"name": "app", "image": "nginx"}],
        "volumes": [{"name": "shared-data", "emptyDir": {}}]}})
    if ephemerals:
        p["spec"]["ephemeralContainers"] = [dict(e) for e in ephemerals]
        defaults.default_pod(p)
    return p


def texts(new: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    try:
        if old is None:
            generic.validate("pods", new)
        else:
            validation.validate_ephemeral_update(new, old)
    except errors.InvalidError as e:
        return [str(x) for x in e.errors]
    return []


DEBUG = {"name": "debugger", "image": "busybox", "stdin": True, "tty": True}


def test_not_settable_on_create() -> None:
    assert texts(pod(DEBUG)) == ["spec.ephemeralContainers: Forbidden: cannot be set on create"]


def test_added_through_the_subresource() -> None:
    old = pod()
    assert texts(pod({**DEBUG, "targetContainerName": "app"}), old) == []


@pytest.mark.parametrize("extra, expected", [
    ({"ports": [{"containerPort": 80}]},
     ["spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container"]),
    ({"readinessProbe": {"exec": {"command": ["true"]}}, "lifecycle": {"preStop": {
        "exec": {"command": ["true"]}}}},
     ["spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral "
      "Container",
      "spec.ephemeralContainers[0].lifecycle: Forbidden: cannot be set for an Ephemeral "
      "Container"]),
    ({"resources": {"limits": {"cpu": "1"}}},
     ["spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral "
      "Container"]),
    ({"volumeMounts": [{"name": "shared-data", "mountPath": "/d", "subPath": "x"}]},
     ["spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an "
      "Ephemeral Container"]),
    ({"targetContainerName": "nope"},
     ['spec.ephemeralContainers[0].targetContainerName: Not found: "nope"']),
    ({"name": "app"}, ['spec.ephemeralContainers[0].name: Duplicate value: "app"']),
])
def test_refusals_in_upstream_words(extra: dict[str, Any], expected: list[str]) -> None:
    assert texts(pod({**DEBUG, **extra}), pod()) == expected


def test_volume_mounts_allowed() -> None:
    mounts = {"volumeMounts": [{"name": "shared-data", "mountPath": "/d"}]}
    assert texts(pod({**DEBUG, **mounts}), pod()) == []


def test_not_removable_or_changeable() -> None:
    old = pod(DEBUG)
    assert texts(pod(), old) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not '
        'be removed\n']
    changed = texts(pod({**DEBUG, "image": "nginx"}), old)
    assert len(changed) == 1
    assert changed[0].startswith('spec.ephemeralContainers: Forbidden: existing ephemeral '
                                 'containers "debugger" may not be changed\n')


def test_refused_on_a_completed_pod() -> None:
    old = pod()
    old["status"] = {"phase": "Succeeded"}
    assert texts(pod(DEBUG), old) == [
        'spec.ephemeralContainers: Forbidden: cannot add ephemeral container "debugger": the '
        'pod has completed (phase Succeeded)']


def test_subresource_changes_only_ephemeral_containers() -> None:
    old = pod()
    sent = pod(DEBUG)
    sent["spec"]["containers"][0]["image"] = "other"
    sent["metadata"]["labels"] = {"x": "y"}
    new = ephemeral.prepare_update(sent, old)
    assert new["spec"]["containers"] == old["spec"]["containers"]
    assert "labels" not in new["metadata"]
    assert [c["name"] for c in new["spec"]["ephemeralContainers"]] == ["debugger"]


def test_pod_update_keeps_ephemeral_containers() -> None:
    old = pod(DEBUG)
    new = copy.deepcopy(old)
    del new["spec"]["ephemeralContainers"]
    updated = generic.prepare_for_update("pods", new, old)
    assert updated["spec"]["ephemeralContainers"] == old["spec"]["ephemeralContainers"]


def test_a_bare_404_has_empty_details() -> None:
    """kubectl debug reads `details.name` of a 404 from pods/NAME/ephemeralcontainers: without
    `details` kubectl 1.32 panicked with a nil-pointer dereference."""
    status = errors.NotFoundError("the server could not find the requested resource").to_status()
    assert status["details"] == {}
    assert errors.NotFoundError.of("pods", "p").to_status()["details"] == {"name": "p",
                                                                          "kind": "pods"}
