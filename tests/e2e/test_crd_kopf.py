"""A kopf operator (the Python operator framework) reconciles a custom resource on podhost:
it watches Pets, creates a ConfigMap owned by each, patches status, and follows changes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
OPERATOR = Path(__file__).parent / "data" / "kopf_operator.py"
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pets.kopf.example.com}
spec:
  group: kopf.example.com
  scope: Namespaced
  names: {plural: pets, singular: pet, kind: Pet}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              sound: {type: string}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""


@pytest.fixture(scope="module")
def kopf_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("kopf") / "root")
    try:
        n.kubectl("apply", "-f", "-", input=CRD)
        n.kubectl("wait", "--for=condition=Established", "crd/pets.kopf.example.com",
                  "--timeout=30s")
        yield n
    finally:
        stop_node(n)


def _eventually(check, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_kopf_operator_reconciles(kopf_node: Node, tmp_path: Path) -> None:
    log = tmp_path / "kopf.log"
    with log.open("wb") as out:
        operator = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone",
                                     "--namespace=default", str(OPERATOR)],
                                    env=kopf_node.env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        kopf_node.kubectl("apply", "-f", "-", input="""apiVersion: kopf.example.com/v1
kind: Pet
metadata: {name: rex}
spec: {sound: woof}
""")

        def config_map() -> dict | None:
            got = kopf_node.kubectl("get", "configmap", "rex-pet", "-o", "json", check=False)
            return json.loads(got.stdout) if got.returncode == 0 else None

        cm = _eventually(config_map)
        assert cm is not None, log.read_text()
        assert cm["data"] == {"sound": "woof"}
        assert cm["metadata"]["ownerReferences"][0]["kind"] == "Pet"

        def status() -> dict:
            return json.loads(kopf_node.kubectl("get", "pet", "rex", "-o",
                                                "jsonpath={.status}").stdout or "{}")

        assert _eventually(lambda: status().get("create_fn")) == {"configMap": "rex-pet"}, \
            log.read_text()
        kopf_node.kubectl("patch", "pet", "rex", "--type=merge", "-p",
                          '{"spec":{"sound":"grr"}}')
        assert _eventually(lambda: (config_map() or {}).get("data") == {"sound": "grr"}), \
            log.read_text()
        assert _eventually(lambda: status().get("sound") == "grr"), log.read_text()
        kopf_node.kubectl("delete", "pet", "rex", "--timeout=30s")
        assert _eventually(lambda: config_map() is None), "the ConfigMap was not collected"
    finally:
        operator.terminate()
        operator.wait(timeout=30)
