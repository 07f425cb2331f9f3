"""Images in the inner loop (issue 19), tried as a new user would, with no registries.conf:
a plain-HTTP registry on 127.0.0.1 pulled from by `podhost images pull` and by a Pod,
`--tls-verify=false` for `localhost:PORT`, an archive loaded from stdin, a push, and the nginx
image mounted read-only as an image volume in two containers at different paths."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import PODHOST, Node, start_node, stop_node
from tests.images_registry import LocalRegistry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bare_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node with an empty image store and an empty registries.conf (no rules at all)."""
    conf = tmp_path_factory.mktemp("noconf") / "registries.conf"
    conf.write_text("")
    n = start_node(tmp_path_factory.mktemp("loopnode") / "root",
                   ["--registries-conf", str(conf)])
    try:
        yield n
    finally:
        n.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", check=False)
        stop_node(n)


def run(node: Node, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = node.env()
    env.pop("PODHOST_REGISTRIES_CONF", None)
    r = subprocess.run([PODHOST, *args], env=env, capture_output=True, input=input,
                       timeout=120)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(),
                                       r.stderr.decode())


def test_cli_pulls_plain_http_from_loopback(bare_node: Node, registry: LocalRegistry) -> None:
    pulled = run(bare_node, "images", "pull", f"{registry.host}/library/busybox:latest")
    assert pulled.returncode == 0, pulled.stderr
    assert f"Pulled {registry.host}/library/busybox:latest" in pulled.stdout


def test_tls_verify(bare_node: Node, registry: LocalRegistry) -> None:
    ref = f"localhost:{registry.port}/library/busybox:latest"
    ok = run(bare_node, "images", "pull", "--tls-verify=false", "-q", ref)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("sha256:")
    strict = run(bare_node, "images", "pull", "--tls-verify=true", ref)
    assert strict.returncode == 1
    assert strict.stderr.startswith(f"error: pinging container registry localhost:"
                                    f"{registry.port}: ")
    assert "Traceback" not in strict.stderr


def test_load_from_stdin(bare_node: Node) -> None:
    archive = gzip.compress((TEST_IMAGES / "busybox.docker.tar").read_bytes(), compresslevel=1)
    loaded = run(bare_node, "images", "load", "-", input=archive)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded image: " in loaded.stdout and "docker.io/library/busybox:latest" in \
        loaded.stdout
    empty = run(bare_node, "images", "load", "-", input=b"")
    assert empty.returncode == 1
    assert empty.stderr == "error: requested load from stdin, but stdin is empty\n"


def test_push_then_pull(bare_node: Node, registry: LocalRegistry) -> None:
    run(bare_node, "images", "pull", f"{registry.host}/library/busybox:latest")
    dest = f"{registry.host}/pushed/busybox:v1"
    pushed = run(bare_node, "images", "push", f"{registry.host}/library/busybox:latest", dest)
    assert pushed.returncode == 0, pushed.stderr
    assert f"Pushed {dest}: " in pushed.stdout
    run(bare_node, "images", "rm", dest)
    back = run(bare_node, "images", "pull", dest)
    assert back.returncode == 0, back.stderr


def image_volume_pod(registry: LocalRegistry, reference: str, name: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: a
    image: {registry.host}/library/busybox:latest
    command: ["sleep", "3600"]
    volumeMounts:
    - {{name: site, mountPath: /site}}
  - name: b
    image: {registry.host}/library/busybox:latest
    command: ["sleep", "3600"]
    volumeMounts:
    - {{name: site, mountPath: /srv/html, subPath: usr/share/nginx/html}}
  volumes:
  - name: site
    image:
      reference: {reference}
"""


def exec_in(node: Node, pod: str, container: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return node.kubectl("exec", pod, "-c", container, "--", *cmd, check=False)


def test_image_volume_shared_read_only(bare_node: Node, registry: LocalRegistry) -> None:
    nginx = f"{registry.host}/library/nginx:latest"
    bare_node.kubectl("apply", "-f", "-", input=image_volume_pod(registry, nginx, "site"))
    try:
        bare_node.wait_ready("site", timeout=90)
        pod = json.loads(bare_node.kubectl("get", "pod", "site", "-o", "json").stdout)
        assert pod["spec"]["volumes"][0]["image"]["pullPolicy"] == "Always"  # :latest
        index = exec_in(bare_node, "site", "a", "cat", "/site/usr/share/nginx/html/index.html")
        assert index.returncode == 0 and "nginx" in index.stdout.lower()
        same = exec_in(bare_node, "site", "b", "cat", "/srv/html/index.html")
        assert same.returncode == 0 and same.stdout == index.stdout
        for container, path in (("a", "/site/new"), ("b", "/srv/html/index.html")):
            write = exec_in(bare_node, "site", container, "sh", "-c", f"echo x > {path}")
            assert write.returncode != 0
            assert "Read-only file system" in write.stderr
        mounts = exec_in(bare_node, "site", "a", "cat", "/proc/self/mounts").stdout
        line = next(m for m in mounts.splitlines() if m.split()[1] == "/site")
        assert {"ro", "nosuid", "nodev"} <= set(line.split()[3].split(","))
        assert "noexec" not in line.split()[3].split(",")
        texts = [e["message"] for e in json.loads(bare_node.kubectl(
            "get", "events", "-o", "json").stdout)["items"]
            if e["involvedObject"]["name"] == "site"]
        assert f'Pulling image "{nginx}"' in texts
        in_use = run(bare_node, "images", "rm", nginx)
        assert in_use.returncode == 1 and "is in use" in in_use.stderr
    finally:
        bare_node.kubectl("delete", "pod", "site", "--grace-period=0", "--force", check=False)


def test_image_volume_bad_reference(bare_node: Node, registry: LocalRegistry) -> None:
    missing = f"{registry.host}/library/missing:1.0"
    bare_node.kubectl("apply", "-f", "-", input=image_volume_pod(registry, missing, "nosite"))
    try:
        deadline = time.monotonic() + 30
        reasons: set[str] = set()
        while time.monotonic() < deadline and "ImagePullBackOff" not in reasons:
            pod = json.loads(bare_node.kubectl("get", "pod", "nosite", "-o", "json").stdout)
            for status in pod.get("status", {}).get("containerStatuses") or []:
                waiting = status["state"].get("waiting") or {}
                if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                    reasons.add(waiting["reason"])
                    assert "manifest unknown" in waiting["message"]
            time.sleep(0.3)
        assert "ImagePullBackOff" in reasons
        texts = [e["message"] for e in json.loads(bare_node.kubectl(
            "get", "events", "-o", "json").stdout)["items"]
            if e["involvedObject"]["name"] == "nosite"]
        assert any(t.startswith(f'Failed to pull image "{missing}": ') for t in texts)
        assert "Error: ErrImagePull" in texts
    finally:
        bare_node.kubectl("delete", "pod", "nosite", "--grace-period=0", "--force",
                          check=False)


def test_several_volume_sources_in_1_32_order(bare_node: Node, tmp_path: Path) -> None:
    manifest = """\
apiVersion: v1
kind: Pod
metadata: {name: two-sources}
spec:
  containers: [{name: a, image: busybox}]
  volumes:
  - name: v
    hostPath: {path: /tmp}
    emptyDir: {}
    image: {reference: busybox}
"""
    out = bare_node.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert out.returncode != 0
    assert ('spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type'
            in out.stderr)
    assert 'spec.volumes[0].image: Forbidden: may not specify more than 1 volume type' \
        in out.stderr
    assert "spec.volumes[0].emptyDir: Forbidden" not in out.stderr
