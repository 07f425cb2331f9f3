"""A custom resource with kubectl 1.27 to 1.33: explain, get with printer columns, scale and
server-side apply."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin"
VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]
DATA = Path(__file__).parent / "data"
WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: {name}
spec:
  color: red
  replicas: 2
"""


@pytest.fixture(scope="module")
def crd_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("crd-versions") / "root")
    try:
        n.kubectl("apply", "-f", str(DATA / "widget-crd.yaml"))
        n.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com",
                  "--timeout=30s")
        yield n
    finally:
        stop_node(n)


@pytest.mark.parametrize("version", VERSIONS)
def test_custom_resource_flows(crd_node: Node, version: str, tmp_path: Path) -> None:
    def kubectl(*args: str, input: str | None = None) -> str:
        result = subprocess.run([f"{KUBECTL_DIR}/kubectl.{version}", "--kubeconfig",
                                 str(crd_node.kubeconfig), f"--cache-dir={tmp_path}", *args],
                                input=input, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"kubectl.{version} {args}: {result.stderr}"
        return result.stdout

    name = "w" + version.replace(".", "-")
    assert kubectl("apply", "--server-side", "-f", "-", input=WIDGET.format(name=name)) \
        .strip() == f"widget.example.com/{name} serverside-applied"
    explained = kubectl("explain", "widget.spec.color")
    assert "The widget's color." in explained
    rows = kubectl("get", "widget", name).splitlines()
    assert rows[0].split() == ["NAME", "COLOR", "REPLICAS", "AGE"]
    assert rows[1].split()[:3] == [name, "red", "2"]
    assert kubectl("scale", f"widget/{name}", "--replicas=4").strip() == \
        f"widget.example.com/{name} scaled"
    assert kubectl("get", "widget", name, "-o", "jsonpath={.spec.replicas}") == "4"
