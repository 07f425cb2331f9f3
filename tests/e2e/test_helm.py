"""Helm 4 and Helm 3, the official binaries, against a real node: a chart made by `helm create`
(its image set to the local nginx) is installed with --wait, tested, upgraded, rolled back and
uninstalled, and nothing of the release is left behind.

What each step needs of the API server: `install --wait` (Helm 4) watches with watch-list and
waits for the bookmark annotated `k8s.io/initial-events-end`; `uninstall` deletes Secrets with a
protobuf DeleteOptions body; `test` runs a busybox Pod that fetches the Service by its DNS name.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node
from tests.helm_binaries import helm

pytestmark = pytest.mark.e2e


class Helm:
    def __init__(self, binary: Path, node: Node, home: Path, namespace: str) -> None:
        self.binary, self.node, self.namespace = binary, node, namespace
        self.env = {**node.env(), "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"),
                    "HELM_DATA_HOME": str(home / "data")}

    def __call__(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run([str(self.binary), *args, "--namespace", self.namespace],
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, (f"helm {' '.join(args)} failed:\n{result.stdout}\n"
                                        f"{result.stderr}")
        return result.stdout

    def create(self, directory: Path) -> Path:
        subprocess.run([str(self.binary), "create", "demo"], cwd=directory, env=self.env,
                       check=True, capture_output=True, timeout=60)
        return directory / "demo"


@pytest.fixture(params=["v4", "v3"])
def release(request: pytest.FixtureRequest, node: Node,
            tmp_path: Path) -> Iterator[tuple[Helm, Path]]:
    namespace = f"helm-{request.param}-{uuid.uuid4().hex[:5]}"
    node.kubectl("create", "namespace", namespace)
    h = Helm(helm(request.param), node, tmp_path, namespace)
    try:
        yield h, h.create(tmp_path)
    finally:
        node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _names(node: Node, namespace: str, kinds: str, *selector: str) -> list[str]:
    out = node.kubectl("get", kinds, "-n", namespace, *selector, "-o", "json").stdout
    return [f"{i['kind']}/{i['metadata']['name']}" for i in json.loads(out)["items"]
            if not i["metadata"].get("deletionTimestamp")]


def test_install_test_upgrade_rollback_uninstall(release: tuple[Helm, Path], node: Node) -> None:
    h, chart = release
    image = ["--set", "image.repository=nginx", "--set", "image.tag=latest"]
    h("install", "web", str(chart), *image, "--wait", "--timeout", "120s")
    ready = node.kubectl("get", "deploy", "web-demo", "-n", h.namespace, "-o",
                         "jsonpath={.status.readyReplicas}").stdout
    assert ready == "1"
    assert "Phase:          Succeeded" in h("test", "web", "--timeout", "120s")
    h("upgrade", "web", str(chart), *image, "--set", "replicaCount=2", "--wait",
      "--timeout", "120s")
    assert node.kubectl("get", "deploy", "web-demo", "-n", h.namespace, "-o",
                        "jsonpath={.status.readyReplicas}").stdout == "2"
    h("rollback", "web", "1", "--wait", "--timeout", "120s")
    assert node.kubectl("get", "deploy", "web-demo", "-n", h.namespace, "-o",
                        "jsonpath={.spec.replicas}").stdout == "1"
    history = json.loads(h("history", "web", "-o", "json"))
    assert [r["status"] for r in history] == ["superseded", "superseded", "deployed"]
    h("uninstall", "web", "--wait", "--timeout", "120s")
    assert "web" not in h("list", "-q").split()
    released = ["-l", "app.kubernetes.io/instance=web"]
    assert _names(node, h.namespace, "deploy,rs,svc,sa", *released) == []
    assert _names(node, h.namespace, "secrets", "-l", "owner=helm,name=web") == []
    pods = _names(node, h.namespace, "pods", *released)
    assert pods in ([], ["Pod/web-demo-test-connection"]), pods  # a test hook, kept by Helm
