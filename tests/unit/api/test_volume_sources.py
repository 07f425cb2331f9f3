"""Volume sources as 1.32's validateVolumeSource checks them (issue 19): each source after the
first is Forbidden, in 1.32's order; image volumes: reference required, pullPolicy defaulted
and checked."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.api import defaults, validation


def volume_errors(volume: dict[str, Any]) -> list[str]:
    pod = defaults.default_pod({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "a", "image": "busybox"}], "volumes": [volume]}})
    return [str(e) for e in validation.validate_pod(pod)]


FORBIDDEN = "Forbidden: may not specify more than 1 volume type"


@pytest.mark.parametrize("sources,extra", [
    (["hostPath", "emptyDir"], ["hostPath"]),
    (["emptyDir", "hostPath", "configMap"], ["hostPath", "configMap"]),
    (["image", "secret"], ["image"]),
    (["configMap", "downwardAPI", "projected"], ["configMap", "projected"]),
    (["emptyDir", "downwardAPI"], ["downwarAPI"]),
    (["cephfs", "rbd"], ["cephFS"]),
    (["csi", "ephemeral", "image", "scaleIO"], ["csi", "ephemeral", "image"]),
])
def test_each_extra_source_in_1_32_order(sources: list[str], extra: list[str]) -> None:
    bodies = {"hostPath": {"path": "/tmp"}, "image": {"reference": "busybox"},
              "secret": {"secretName": "s"}, "configMap": {"name": "c"}}
    volume: dict[str, Any] = {"name": "v", **{s: bodies.get(s, {}) for s in sources}}
    errs = [e for e in volume_errors(volume) if "more than 1" in e]
    assert errs == [f"spec.volumes[0].{s}: {FORBIDDEN}" for s in extra]


def test_order_matches_1_32() -> None:
    assert validation.VOLUME_SOURCES[:3] == ("emptyDir", "hostPath", "gitRepo")
    assert validation.VOLUME_SOURCES[-4:] == ("scaleIO", "csi", "ephemeral", "image")
    assert len(set(validation.VOLUME_SOURCES)) == 30


def test_image_volume_defaults_and_validation() -> None:
    assert volume_errors({"name": "v", "image": {"reference": "nginx"}}) == []
    assert volume_errors({"name": "v", "image": {}}) == [
        "spec.volumes[0].image.reference: Required value"]
    assert volume_errors({"name": "v", "image": {"reference": "x", "pullPolicy": "Sometimes"}}) \
        == ['spec.volumes[0].image.pullPolicy: Unsupported value: "Sometimes": supported '
            'values: "Always", "IfNotPresent", "Never"']


@pytest.mark.parametrize("reference,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:dev", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("", "IfNotPresent")])
def test_image_volume_pull_policy_default(reference: str, policy: str) -> None:
    volume: dict[str, Any] = {"name": "v", "image": {"reference": reference}}
    defaults.default_volume(volume)
    assert volume["image"]["pullPolicy"] == policy
    kept: dict[str, Any] = {"name": "v", "image": {"reference": "x:1", "pullPolicy": "Never"}}
    defaults.default_volume(kept)
    assert kept["image"]["pullPolicy"] == "Never"
