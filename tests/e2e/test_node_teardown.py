"""One node per root, and `podhost down --delete-pods` leaving nothing behind, with a
Deployment whose controller would otherwise replace the Pods being deleted."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import PODHOST, start_node, stop_node

pytestmark = pytest.mark.e2e

WORKLOAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: td-web}
spec:
  replicas: 3
  selector: {matchLabels: {app: td-web}}
  template:
    metadata: {labels: {app: td-web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: td-port}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    ports: [{containerPort: 80, hostPort: 18080}]
"""


def _run(env: dict[str, str], *args: str, timeout: float = 90
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def _owned(root: Path) -> list[str]:
    """What of the node is left on the machine: containers, mounts, nft tables, addresses."""
    owner = str(root.resolve())
    table = hashlib.sha256(owner.encode()).hexdigest()[:10]
    left = []
    runc = _run(dict(os.environ), "runc", "--root", str(root / "runtime" / "runc"), "list", "-q")
    left += [f"container {c}" for c in runc.stdout.split()]
    left += [f"mount {line.split()[1]}" for line in Path("/proc/self/mounts").read_text()
             .splitlines() if line.split()[1].startswith(owner)]
    tables = _run(dict(os.environ), "nft", "list", "tables").stdout
    left += [f"nft {t}" for t in re.findall(rf"\S*{table}\S*", tables)]
    for path in Path("/run/podhost/networks").glob("*/*"):
        if path.is_file() and owner in path.read_text(errors="replace"):
            left.append(f"address {path.name}")
    return left


def test_one_node_per_root_and_down_delete_pods_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    node = start_node(root)
    env = dict(node.env())
    try:
        node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
        node.kubectl("apply", "-f", "-", input=WORKLOAD)
        node.kubectl("wait", "--for=condition=Available", "deployment/td-web", "--timeout=60s",
                     timeout=70)
        node.wait_ready("td-port")
        started = time.monotonic()
        second = _run(env, PODHOST, "serve", "--root", str(root), "--port", "1",
                      "--no-kubeconfig-update", timeout=30)
        assert time.monotonic() - started < 10
        assert second.returncode == 1
        assert second.stderr == (f"error: a podhost node is already running on {root} "
                                 f"(pid {node.process.pid}): stop it with `podhost down`, "
                                 "or use another --root\n")
        assert "18080" in _run(env, "nft", "list", "ruleset").stdout  # untouched
        assert node.kubectl("get", "pods", "--no-headers").stdout.count("Running") == 4

        down = _run(env, PODHOST, "down", "--delete-pods", timeout=120)
        assert down.returncode == 0, down.stderr
        assert down.stdout.splitlines()[-1] == f"podhost node stopped (pid {node.process.pid})"
        assert 'pod "td-port" deleted' in down.stdout
        node.process.wait(timeout=10)
        assert _owned(root) == []
        log = node.log.read_text()
        assert " ERROR " not in log and "Traceback" not in log, log
    finally:
        stop_node(node)
        if _owned(root):  # a failed run: clean up what is left for the next tests
            stop_node(start_node(root))
            _run(dict(env, PODHOST_ROOT=str(root)), PODHOST, "down", "--delete-pods")
    restarted = start_node(root)  # the Deployment is still there and makes its Pods again
    try:
        restarted.kubectl("wait", "--for=condition=Available", "deployment/td-web",
                          "--timeout=60s", timeout=70)
        assert "td-port" not in restarted.kubectl("get", "pods").stdout
    finally:
        _run(restarted.env(), PODHOST, "down", "--delete-pods", timeout=120)
        restarted.process.wait(timeout=30)
        assert _owned(root) == []
        os.sync()
