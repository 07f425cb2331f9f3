"""Image pulls seen through kubectl: the seed Pod on a node with an empty image store pulls
nginx and busybox through a docker.io mirror (offline), and a missing image shows
ErrImagePull / ImagePullBackOff with the registry's reason (issue 4)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import PODHOST, Node, start_node, stop_node

pytestmark = pytest.mark.e2e

SEED = REPO / "examples" / "data-sharing-pod.yaml"


@pytest.fixture(scope="module")
def empty_node(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    """A second node with no image loaded: every image must come from the registry."""
    n = start_node(tmp_path_factory.mktemp("pullnode") / "root",
                   ["--registries-conf", str(registries_conf)])
    try:
        yield n
    finally:
        n.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", check=False)
        stop_node(n)


def events(node: Node, pod: str) -> list[tuple[str, str, str]]:
    out = node.kubectl("get", "events", "-o", "json",
                       f"--field-selector=involvedObject.name={pod}", check=False).stdout
    try:
        items = json.loads(out)["items"]
    except (ValueError, KeyError):
        items = [e for e in json.loads(node.kubectl("get", "events", "-o", "json").stdout)[
            "items"] if e["involvedObject"]["name"] == pod]
    return [(e["type"], e["reason"], e["message"]) for e in items
            if e["involvedObject"]["name"] == pod]


def test_seed_pulls_through_mirror(empty_node: Node) -> None:
    empty_node.kubectl("apply", "-f", str(SEED))
    try:
        empty_node.wait_ready("data-sharing-pod", timeout=90)
        pod = json.loads(empty_node.kubectl("get", "pod", "data-sharing-pod", "-o",
                                            "json").stdout)
        assert {c["imagePullPolicy"] for c in pod["spec"]["containers"]} == {"Always"}
        seen = events(empty_node, "data-sharing-pod")
        messages = [m for _, r, m in seen if r in ("Pulling", "Pulled")]
        assert 'Pulling image "nginx"' in messages
        pulled = [m for m in messages if m.startswith('Successfully pulled image "nginx" in ')]
        assert pulled and " including waiting). Image size: " in pulled[0]
        assert pulled[0].endswith(" bytes.")
        ls = empty_node.podhost("images", "ls").stdout
        assert "docker.io/library/nginx:latest" in ls
    finally:
        empty_node.kubectl("delete", "-f", str(SEED), "--grace-period=0", "--force",
                           check=False)


MISSING = """\
apiVersion: v1
kind: Pod
metadata:
  name: pull-missing
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: podhost-test/does-not-exist:1.0
"""


def test_missing_image_backs_off(empty_node: Node) -> None:
    empty_node.kubectl("apply", "-f", "-", input=MISSING)
    try:
        deadline = time.monotonic() + 30
        image = "podhost-test/does-not-exist:1.0"
        waiting: dict[str, str] = {}
        while time.monotonic() < deadline and waiting.get("reason") != "ImagePullBackOff":
            pod = json.loads(empty_node.kubectl("get", "pod", "pull-missing", "-o",
                                                "json").stdout)
            for status in pod.get("status", {}).get("containerStatuses") or []:
                waiting = status["state"].get("waiting") or {}
            time.sleep(0.3)
        assert waiting.get("reason") == "ImagePullBackOff"
        assert waiting["message"].startswith(
            f'Back-off pulling image "{image}": ErrImagePull: ')
        assert "manifest unknown" in waiting["message"]
        seen = events(empty_node, "pull-missing")
        texts = [m for _, _, m in seen]
        assert f'Pulling image "{image}"' in texts
        failed = [m for m in texts if m.startswith(f'Failed to pull image "{image}": ')]
        assert failed and "manifest unknown" in failed[0]
        assert "Error: ErrImagePull" in texts
        assert f'Back-off pulling image "{image}"' in texts
        assert "Error: ImagePullBackOff" in texts
        describe = empty_node.kubectl("describe", "pod", "pull-missing").stdout
        assert "ImagePullBackOff" in describe or "ErrImagePull" in describe
        assert "manifest unknown" in describe
    finally:
        empty_node.kubectl("delete", "pod", "pull-missing", "--grace-period=0", "--force",
                           check=False)


IN_USE = """apiVersion: v1
kind: Pod
metadata:
  name: in-use
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
"""


def run_podhost(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODHOST, *args], env=node.env(), capture_output=True, text=True,
                          timeout=60)


def test_image_in_use_is_kept(empty_node: Node) -> None:
    """The node records the images its containers use: `images rm` refuses them and `prune`
    keeps them; once the Pod is gone the image can be removed."""
    empty_node.kubectl("apply", "-f", "-", input=IN_USE)
    empty_node.wait_ready("in-use")
    in_use = json.loads((empty_node.root / "images" / "in-use.json").read_text())["images"]
    assert any("busybox" in name for name in in_use), in_use
    refused = run_podhost(empty_node, "images", "rm", "busybox")
    assert refused.returncode == 1
    assert "is in use by a container" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run_podhost(empty_node, "images", "prune").returncode == 0
    assert "docker.io/library/busybox:latest" in run_podhost(empty_node, "images", "ls").stdout
    empty_node.kubectl("delete", "pod", "in-use")
    removed = run_podhost(empty_node, "images", "rm", "busybox")
    assert removed.returncode == 0, removed.stderr
    assert "Untagged: docker.io/library/busybox:latest" in removed.stdout


@pytest.mark.parametrize("text, reason", [("this is [ not toml\n", "invalid TOML"),
                                          (None, "no such file")])
def test_bad_registries_conf_stops_serve(tmp_path: Path, text: str | None, reason: str) -> None:
    conf = tmp_path / "registries.conf"
    if text is not None:
        conf.write_text(text)
    result = subprocess.run([PODHOST, "serve", "--root", str(tmp_path / "root"), "--port", "1",
                             "--registries-conf", str(conf), "--no-kubeconfig-update"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {conf}: {reason}"), result.stderr
    assert "Traceback" not in result.stderr
