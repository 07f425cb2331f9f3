"""The validation table of spec §4.6, with the exact texts a real API server gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podhost.api import defaults, errors, validation
from podhost.api.meta import LABEL_MSG, SUBDOMAIN_MSG
from podhost.registry import generic


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox",
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "emptyDir": {}}]}}
    base["spec"].update(spec)
    return defaults.default_pod(base)


def mount(**fields: Any) -> dict[str, Any]:
    return pod(containers=[{"name": "app", "image": "busybox",
                            "volumeMounts": [{"name": "data", "mountPath": "/data", **fields}]}])


def texts(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validation.validate_pod(obj)]


CASES = [
    ("V1", pod(containers=[{"name": "app", "image": "b",
                            "volumeMounts": [{"name": "x", "mountPath": "/d"}]}]),
     ['spec.containers[0].volumeMounts[0].name: Not found: "x"']),
    ("V2", pod(volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]),
     ['spec.volumes[1].name: Duplicate value: "data"']),
    ("V3", pod(volumes=[{"name": "Data_1", "emptyDir": {}}],
               containers=[{"name": "app", "image": "b",
                            "volumeMounts": [{"name": "Data_1", "mountPath": "/d"}]}]),
     [f'spec.volumes[0].name: Invalid value: "Data_1": {LABEL_MSG}',
      'spec.containers[0].volumeMounts[0].name: Not found: "Data_1"']),
    ("V5", pod(volumes=[{"name": "a" * 64, "emptyDir": {}}], containers=[
        {"name": "app", "image": "b"}]),
     [f'spec.volumes[0].name: Invalid value: "{"a" * 64}": must be no more than 63 characters']),
    ("V6", pod(containers=[{"name": "app", "image": "b", "volumeMounts": [
        {"name": "data", "mountPath": "/data"}, {"name": "data", "mountPath": "/data"}]}]),
     ['spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique']),
    ("V7", mount(mountPath=""), ["spec.containers[0].volumeMounts[0].mountPath: Required value"]),
    ("V8", mount(subPath="/etc"),
     ['spec.containers[0].volumeMounts.subPath: Invalid value: "/etc": must be a relative path']),
    ("V9", mount(subPath="../x"),
     ["spec.containers[0].volumeMounts.subPath: Invalid value: \"../x\": must not contain '..'"]),
    ("V10", mount(subPath="/../x"),
     ['spec.containers[0].volumeMounts.subPath: Invalid value: "/../x": must be a relative path',
      "spec.containers[0].volumeMounts.subPath: Invalid value: \"/../x\": must not contain '..'"]),
    ("V11", mount(subPath="a", subPathExpr="$(X)"),
     ['spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "$(X)": subPathExpr and '
      'subPath are mutually exclusive']),
    ("V12", pod(volumes=[{"name": "data", "emptyDir": {"sizeLimit": "-1Gi"}}]),
     ["spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource "
      "quantity", 'spec.containers[0].volumeMounts[0].name: Not found: "data"']),
    ("V14", pod(containers=[{"name": "app", "image": "b"}, {"name": "app", "image": "b"}]),
     ['spec.containers[1].name: Duplicate value: "app"']),
    ("V15", pod(containers=[{"name": "app", "image": "b"}],
                initContainers=[{"name": "app", "image": "b"}]),
     ['spec.initContainers[0].name: Duplicate value: "app"']),
    ("V16", pod(containers=[{"name": "App", "image": "b"}]),
     [f'spec.containers[0].name: Invalid value: "App": {LABEL_MSG}']),
    ("V18", pod(containers=[]), ["spec.containers: Required value"]),
    ("V19", mount(mountPath="data"), []),
    ("V21", pod(volumes=[{"name": "data", "emptyDir": {"medium": "Disk"}}]), []),
]


@pytest.mark.parametrize("case,obj,expected", CASES, ids=[c[0] for c in CASES])
def test_validation_table(case: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert texts(obj) == expected


def test_v17_pod_name() -> None:
    obj = pod()
    obj["metadata"].update(name="My_Pod", namespace="default")
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("pods", obj)
    assert [str(x) for x in e.value.errors] == [
        f'metadata.name: Invalid value: "My_Pod": {SUBDOMAIN_MSG}']


def test_v20_volume_without_source_defaults_to_empty_dir() -> None:
    obj = pod(volumes=[{"name": "data"}])
    assert obj["spec"]["volumes"][0] == {"name": "data", "emptyDir": {}}
    assert texts(obj) == []


def test_v13_bad_quantity_is_a_bad_request() -> None:
    obj = pod(volumes=[{"name": "data", "emptyDir": {"sizeLimit": "abc"}}])
    with pytest.raises(errors.BadRequestError) as e:
        validation.check_decodable("pods", obj)
    assert "quantities must match the regular expression" in e.value.message


def test_invalid_status_shape() -> None:
    err = errors.InvalidError("Pod", "p", validation.validate_pod(CASES[0][1]))
    status = err.to_status()
    assert status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Pod "p" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "x"',
        "reason": "Invalid",
        "details": {"name": "p", "kind": "Pod", "causes": [
            {"reason": "FieldValueNotFound", "message": 'Not found: "x"',
             "field": "spec.containers[0].volumeMounts[0].name"}]},
        "code": 422}
    several = errors.InvalidError("Pod", "p", validation.validate_pod(copy.deepcopy(CASES[2][1])))
    assert several.message.startswith('Pod "p" is invalid: [spec.volumes[0].name')
