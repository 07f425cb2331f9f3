"""Pod API fidelity through real kubectl: validation texts, field validation, apply, explain."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e


def manifest(name: str, container: str = "", volumes: str = "", pod_name: str | None = None
             ) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {pod_name or name}
spec:
  terminationGracePeriodSeconds: 0
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    imagePullPolicy: Never
    command: ["sh", "-c", "sleep 3600"]
{container}{volumes}"""


MOUNT_X = """    volumeMounts:
    - name: x
      mountPath: /data
"""
TWO_MOUNTS = """    volumeMounts:
    - name: data
      mountPath: /data
    - name: data
      mountPath: /data
"""
DATA = """  volumes:
  - name: data
    emptyDir: {}
"""
TWO_DATA = DATA + """  - name: data
    emptyDir: {}
"""
# (defect, manifest pieces, the text kubectl prints); each of spec §4.6
INVALID = [
    ("v1", MOUNT_X, DATA, 'spec.containers[0].volumeMounts[0].name: Not found: "x"'),
    ("v2", "", TWO_DATA, 'spec.volumes[1].name: Duplicate value: "data"'),
    ("v6", TWO_MOUNTS, DATA,
     'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique'),
    ("v12", "", "  volumes:\n  - name: data\n    emptyDir: {sizeLimit: -1Gi}\n",
     "spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource "
     "quantity"),
    ("ports", "    ports:\n    - containerPort: 70000\n", "",
     "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
     "65535, inclusive"),
]


def absent(node: Node, name: str) -> bool:
    result = node.kubectl("get", "pod", name, check=False)
    return f'pods "{name}" not found' in result.stderr


def delete(node: Node, name: str) -> None:
    node.kubectl("delete", "pod", name, "--grace-period=0", "--force", "--wait=false",
                 check=False)


@pytest.mark.parametrize("case, container, volumes, cause", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_pod_is_refused_then_fixed(node: Node, case: str, container: str, volumes: str,
                                           cause: str) -> None:
    name = f"val-{case}"
    result = node.kubectl("apply", "-f", "-", input=manifest(name, container, volumes),
                          check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f'The Pod "{name}" is invalid: {cause}'
    assert absent(node, name)
    try:
        fixed = node.kubectl("apply", "-f", "-", input=manifest(name, "", DATA))
        assert fixed.stdout.strip() == f"pod/{name} created"
    finally:
        delete(node, name)


def test_unknown_fields_strict_warn_and_ignore(node: Node) -> None:
    typo = manifest("val-typo").replace("    image: busybox\n", "    image: busybox\n"
                                        "    imagee: busybox\n")
    strict = node.kubectl("apply", "-f", "-", input=typo, check=False)
    assert strict.returncode == 1
    assert strict.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot '
        'be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee"')
    assert absent(node, "val-typo")
    try:
        warn = node.kubectl("apply", "--validate=warn", "-f", "-", input=typo)
        assert 'Warning: unknown field "spec.containers[0].imagee"' in warn.stderr
        assert warn.stdout.strip() == "pod/val-typo created"
        stored = json.loads(node.kubectl("get", "pod", "val-typo", "-o", "json").stdout)
        assert "imagee" not in stored["spec"]["containers"][0]
    finally:
        delete(node, "val-typo")


def test_type_error_is_a_bad_request(node: Node) -> None:
    bad = manifest("val-type").replace("    image: busybox\n", "    image: 5\n")
    result = node.kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot '
        "be handled as a Pod: json: cannot unmarshal number into Go struct field "
        "Container.spec.containers.image of type string")


def test_apply_unchanged_configured_and_immutable_fields(node: Node) -> None:
    name = "val-apply"
    # without the ServiceAccount volume: the admission adds it to the live Pod, and then kubectl
    # sends `$setElementOrder/volumes` and prints `configured`, as on a cluster
    text = manifest(name).replace("spec:\n", "spec:\n  automountServiceAccountToken: false\n")
    try:
        assert node.kubectl("apply", "-f", "-", input=text).stdout.strip() == \
            f"pod/{name} created"
        again = node.kubectl("apply", "-f", "-", input=text)
        assert again.stdout.strip() == f"pod/{name} unchanged"
        assert again.stderr == ""
        labelled = text.replace(f"  name: {name}\n", f"  name: {name}\n  labels:\n    a: b\n")
        changed = node.kubectl("apply", "-f", "-", input=labelled)
        assert changed.stdout.strip() == f"pod/{name} configured"
        assert changed.stderr == ""
        moved = labelled.replace('"sleep 3600"', '"sleep 60"')
        refused = node.kubectl("apply", "-f", "-", input=moved, check=False)
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f'The Pod "{name}" is invalid: spec: Forbidden: pod updates may not change fields '
            "other than `spec.containers[*].image`,`spec.initContainers[*].image`,")
    finally:
        delete(node, name)


def test_explain_uses_the_openapi_document(node: Node) -> None:
    result = node.kubectl("explain", "pods.spec.containers")
    assert "KIND:       Pod" in result.stdout
    assert "FIELD: containers <[]Container>" in result.stdout
    assert "image\t<string>" in result.stdout


def test_pod_of_another_node_is_refused(node: Node) -> None:
    """podhost runs the Pods of its own node: a Pod bound elsewhere is a 422, never ignored."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere"},
           "spec": {"nodeName": "some-other-node",
                    "containers": [{"name": "c", "image": "busybox"}]}}
    result = node.kubectl("create", "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode == 1
    assert 'The Pod "elsewhere" is invalid: spec.nodeName: Forbidden: podhost runs only the ' \
           'Pods of its own node' in result.stderr
    assert "elsewhere" not in node.kubectl("get", "pods", "-o", "name").stdout
