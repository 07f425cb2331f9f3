"""`kubectl autoscale` as a new user meets it: a Deployment whose Pods burn CPU (a busybox
loop) is scaled up by the HorizontalPodAutoscaler from the node's metrics, and back down
once the load is over. The node runs with short autoscaler periods
(`--horizontal-pod-autoscaler-sync-period=2s`, `...-downscale-stabilization=5s`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, start_node, stop_node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e
BUSY_SECONDS = 25


@pytest.fixture(scope="module")
def fast_node(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("podhost-hpa") / "root"
    n = start_node(root, ["--registries-conf", str(registries_conf),
                          "--horizontal-pod-autoscaler-sync-period=2s",
                          "--horizontal-pod-autoscaler-downscale-stabilization=5s"])
    n.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
    try:
        yield n
    finally:
        subprocess.run(["kubectl", "delete", "deployments", "--all", "--wait=true",
                        "--timeout=60s"], env=n.env(), capture_output=True, timeout=90)
        stop_node(n)


def deployment(name: str) -> str:
    burn = (f"end=$(( $(date +%s) + {BUSY_SECONDS} )); "
            "while [ $(date +%s) -lt $end ]; do :; done; exec sleep 3600")
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sh", "-c", burn],
                                     "resources": {"requests": {"cpu": "50m"}}}]}}}})


def replicas(node: Node, name: str) -> int:
    out = node.kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}").stdout
    return int(out or 0)


def test_autoscale_up_under_load_and_back(fast_node: Node) -> None:
    node, name = fast_node, unique("busy")
    node.kubectl("apply", "-f", "-", input=deployment(name))
    node.kubectl("rollout", "status", f"deployment/{name}", "--timeout=60s", timeout=70)
    out = node.kubectl("autoscale", "deployment", name, "--cpu-percent=50", "--min=1",
                       "--max=3").stdout
    assert f"horizontalpodautoscaler.autoscaling/{name} autoscaled" in out
    header = node.kubectl("get", "hpa").stdout.splitlines()[0].split()
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    wait_for(lambda: replicas(node, name) > 1, 45, "a scale-up under load")
    row = node.kubectl("get", "hpa", name, "--no-headers").stdout.split()
    assert row[1] == f"Deployment/{name}" and row[2] == "cpu:" and row[3].endswith("/50%")
    hpa = json.loads(node.kubectl("get", "hpa", name, "-o", "json").stdout)
    reasons = {c["type"]: c["reason"] for c in hpa["status"]["conditions"]}
    assert reasons["ScalingActive"] == "ValidMetricFound"
    events = node.kubectl("get", "events", f"--field-selector=involvedObject.name={name}")
    assert "SuccessfulRescale" in events.stdout and "New size:" in events.stdout
    # every Pod stops burning after BUSY_SECONDS: back to one
    wait_for(lambda: replicas(node, name) == 1, 90, "the scale-down once idle")
    events = node.kubectl("get", "events", f"--field-selector=involvedObject.name={name}")
    assert "All metrics below target" in events.stdout
