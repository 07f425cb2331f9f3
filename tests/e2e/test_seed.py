"""The seed's own verification steps, verbatim, with real kubectl against a real node (issue 2)."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import TEST_IMAGES, Node, start_node, stop_node

pytestmark = pytest.mark.e2e

SEED = REPO / "examples" / "data-sharing-pod.yaml"
SHARED = "Shared data from app-container-2"



@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    """A node of the seed's own: the test checks that nothing of its Pod is left (mounts,
    processes), which another test's Pods on a shared node would make untrue."""
    root = tmp_path_factory.mktemp("seed") / "root"
    n = start_node(root, ["--registries-conf", str(registries_conf)])
    for name in ("busybox", "nginx"):
        n.podhost("images", "load", str(TEST_IMAGES / f"{name}.oci.tar"))
    try:
        yield n
    finally:
        subprocess.run(["kubectl", "delete", "pods", "--all", "--wait=true", "--timeout=60s"],
                       env=n.env(), capture_output=True, timeout=90)
        stop_node(n)

def run_tty(node: Node, args: list[str], keys: list[bytes], expect: bytes,
            timeout: float = 30) -> tuple[int, bytes]:
    """Run kubectl on a pseudo-terminal, type keys once `expect` shows, return rc and output."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(node.env())
        os.execvp("kubectl", ["kubectl", *args])
    out = b""
    deadline = time.monotonic() + timeout
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and expect in out:
            for key in keys:
                os.write(fd, key)
                time.sleep(0.3)
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def test_seed_end_to_end(node: Node, tmp_path: Path) -> None:
    manifest = tmp_path / "data-sharing-pod.yaml"
    shutil.copy(SEED, manifest)

    # 1. kubectl apply -f data-sharing-pod.yaml
    out = node.kubectl("apply", "-f", str(manifest))
    assert out.stdout.strip() == "pod/data-sharing-pod created"
    node.wait_ready("data-sharing-pod")

    # 2. kubectl get pods
    out = node.kubectl("get", "pods")
    assert re.search(r"^data-sharing-pod\s+2/2\s+Running\s+0\s+", out.stdout, re.M), out.stdout

    # 3. the file in both containers
    for container in ("app-container-1", "app-container-2"):
        out = node.kubectl("exec", "data-sharing-pod", "-c", container, "--",
                           "cat", "/usr/share/nginx/html/index.html")
        assert out.stdout.strip() == SHARED

    # 4. nginx serves it
    out = node.kubectl("exec", "data-sharing-pod", "-c", "app-container-2", "--",
                       "wget", "-qO-", "http://127.0.0.1/")
    assert out.stdout.strip() == SHARED

    # 5. an interactive bash in nginx; busybox has no bash
    rc, text = run_tty(node, ["exec", "-it", "data-sharing-pod", "-c", "app-container-1", "--",
                              "/bin/bash"],
                       [b"cat /usr/share/nginx/html/index.html\r", b"exit\r"], b"#")
    assert rc == 0, text
    assert SHARED.encode() in text
    out = node.kubectl("exec", "-i", "data-sharing-pod", "-c", "app-container-2", "--",
                       "/bin/bash", check=False)
    assert out.returncode != 0
    assert "/bin/bash" in out.stderr and "no such file or directory" in out.stderr.lower()

    # re-apply: `configured`, as a cluster answers it: the live Pod has the ServiceAccount
    # admission's kube-api-access volume and mounts, so kubectl's three-way patch carries
    # `$setElementOrder/volumes` and `$setElementOrder/volumeMounts` (nothing changes)
    out = node.kubectl("apply", "-f", str(manifest))
    assert out.stdout.strip() == "pod/data-sharing-pod configured"

    uid = node.kubectl("get", "pod", "data-sharing-pod", "-o",
                       "jsonpath={.metadata.uid}").stdout.strip()
    pod_dir = node.root / "pods" / uid
    assert (pod_dir / "volumes" / "kubernetes.io~empty-dir" / "shared-data").is_dir()
    assert (pod_dir / "volumes/kubernetes.io~empty-dir/shared-data").stat().st_mode & 0o777 == 0o777

    # 6. kubectl delete returns once the Pod is gone, leaving nothing behind
    out = node.kubectl("delete", "pod", "data-sharing-pod", timeout=60)
    assert out.stdout.strip() == 'pod "data-sharing-pod" deleted'
    out = node.kubectl("get", "pod", "data-sharing-pod", check=False)
    assert "NotFound" in out.stderr
    assert not pod_dir.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(node.root / "pods") not in mounts
    assert str(node.root / "overlay") not in mounts
    procs = subprocess.run(["pgrep", "-af", str(node.root)], capture_output=True,
                           text=True).stdout.splitlines()
    # the node itself and its ingress proxy (HAProxy, config under <root>/ingress) stay
    assert [p for p in procs if " serve " not in p and "/ingress/haproxy.cfg" not in p] == []
