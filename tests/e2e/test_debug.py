"""Debugging and data access with real kubectl (issue 17): ephemeral containers through
`kubectl debug` (--target, --custom, -i, profiles, --copy-to, node/NAME), the API's rules for
them, and `podhost volume ls|cat|cp` / `podhost cp` on an image that holds only a static binary."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, TEST_IMAGES
from tests.e2e.conftest import PODHOST, Node, start_node, stop_node
from tests.e2e.test_lifecycle import apply, delete, get, unique, wait_for
from tests.e2e.test_recovery import crash
from tests.e2e.test_recovery import pod as crash_pod
from tests.integration.images.image_archives import OciImage, oci_archive

pytestmark = pytest.mark.e2e

STATIC_IMAGE = "localhost/static-busybox:1"
SHARED = "Shared data from app-container-2"


@pytest.fixture(scope="module")
def seed(node: Node) -> Iterator[str]:
    """The seed Pod of examples/, under a name of its own."""
    pod = yaml.safe_load((REPO / "examples" / "data-sharing-pod.yaml").read_text())
    pod["metadata"]["name"] = name = unique("seed")
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    node.kubectl("apply", "-f", "-", input=json.dumps(pod))
    node.wait_ready(name)
    yield name
    delete(node, name)


def debug(node: Node, *args: str, input: str = "", check: bool = True
          ) -> subprocess.CompletedProcess[str]:
    return node.kubectl("debug", *args, input=input, timeout=90, check=check)


def ephemeral_state(node: Node, pod: str, name: str) -> dict[str, Any]:
    statuses = get(node, pod)["status"].get("ephemeralContainerStatuses") or []
    return next((s["state"] for s in statuses if s["name"] == name), {})


def test_debug_target_sees_the_target_processes_and_files(node: Node, seed: str) -> None:
    # what the container prints before kubectl attaches is not replayed (as on a cluster), so
    # the commands come through the attached stdin
    out = debug(node, seed, "-i", "--image=busybox", "--target=app-container-1",
                "--profile=general", "-c", "peek", "--", "sh",
                input="ps; cat /proc/1/root/usr/share/nginx/html/index.html; exit\n").stdout
    assert "nginx: master process" in out
    assert SHARED in out
    state = wait_for(lambda: ephemeral_state(node, seed, "peek").get("terminated"), 20,
                     "the debug container to end")
    assert state["exitCode"] == 0
    spec = get(node, seed)["spec"]["ephemeralContainers"]
    assert {"name": "peek", "targetContainerName": "app-container-1"}.items() <= \
        next(c for c in spec if c["name"] == "peek").items()


def test_debug_custom_mounts_the_shared_volume(node: Node, seed: str, tmp_path: Path) -> None:
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"volumeMounts": [{"name": "shared-data",
                                                    "mountPath": "/shared"}]}))
    out = debug(node, seed, "-i", "--image=busybox", "--profile=general", f"--custom={custom}",
                "-c", "reader", "--", "sh", input="cat /shared/index.html; exit\n").stdout
    assert SHARED in out


def test_debug_interactive_shell_runs_and_terminates(node: Node, seed: str) -> None:
    result = debug(node, seed, "-i", "--image=busybox", "--profile=general", "-c", "shell",
                   "--", "sh", input="echo hello-$((40+2))\nexit 0\n")
    assert "hello-42" in result.stdout
    state = wait_for(lambda: ephemeral_state(node, seed, "shell").get("terminated"), 20,
                     "the shell to end")
    assert state["reason"] == "Completed"


def test_exec_logs_and_profiles_on_ephemeral_containers(node: Node, seed: str,
                                                        tmp_path: Path) -> None:
    debug(node, seed, "--image=busybox", "--profile=netadmin", "-c", "net", "--",
          "sh", "-c", "echo started; sleep 3600")
    wait_for(lambda: "running" in ephemeral_state(node, seed, "net"), 30, "net to run")
    assert node.kubectl("exec", seed, "-c", "net", "--", "echo", "in-net").stdout == "in-net\n"
    assert wait_for(lambda: "started" in node.kubectl("logs", seed, "-c", "net").stdout)
    caps = node.kubectl("exec", seed, "-c", "net", "--", "grep", "CapEff",
                        "/proc/self/status").stdout
    assert int(caps.split()[1], 16) & (1 << 12)  # CAP_NET_ADMIN
    custom = tmp_path / "user.json"
    custom.write_text(json.dumps({"securityContext": {"runAsUser": 1000}}))
    out = debug(node, seed, "-i", "--image=busybox", "--profile=restricted",
                f"--custom={custom}", "-c", "strict", "--", "sh", input="id -u; exit\n").stdout
    assert "1000" in out


def test_ephemeral_container_rules_in_upstream_words(node: Node, seed: str) -> None:
    bad = {"spec": {"ephemeralContainers": [{"name": "bad", "image": "busybox",
                                             "ports": [{"containerPort": 80}]}]}}
    result = node.kubectl("patch", "pod", seed, "--subresource=ephemeralcontainers",
                          "--type=strategic", "-p", json.dumps(bad), check=False)
    assert result.returncode == 1
    assert ".ports: Forbidden: cannot be set for an Ephemeral Container" in result.stderr
    debug(node, seed, "--image=busybox", "--profile=general", "-c", "stays", "--", "true")
    names = [c["name"] for c in get(node, seed)["spec"]["ephemeralContainers"]]
    index = names.index("stays")
    result = node.kubectl("patch", "pod", seed, "--subresource=ephemeralcontainers",
                          "--type=json", "-p", json.dumps([
                              {"op": "remove", "path": f"/spec/ephemeralContainers/{index}"}]),
                          check=False)
    assert 'existing ephemeral containers "stays" may not be removed' in result.stderr
    result = debug(node, seed, "--image=busybox", "--profile=general", "--target=nope", "--",
                   "true", check=False)
    assert result.returncode == 1
    assert 'targetContainerName: Not found: "nope"' in result.stderr
    created = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": unique("eph")},
               "spec": {"containers": [{"name": "c", "image": "busybox"}],
                        "ephemeralContainers": [{"name": "d", "image": "busybox"}]}}
    result = node.kubectl("apply", "-f", "-", input=json.dumps(created), check=False)
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in result.stderr


def test_debug_on_a_completed_pod_is_refused(node: Node) -> None:
    name = apply(node, {"metadata": {"name": unique("done")},
                        "spec": {"restartPolicy": "Never", "containers": [
                            {"name": "c", "image": "busybox", "command": ["true"]}]}})
    try:
        wait_for(lambda: get(node, name)["status"].get("phase") == "Succeeded", 30, "Succeeded")
        result = debug(node, name, "--image=busybox", "--profile=general", "-c", "late", "--",
                       "true", check=False)
        assert result.returncode == 1
        assert 'cannot add ephemeral container "late": the pod has completed (phase ' \
               'Succeeded)' in result.stderr
    finally:
        delete(node, name)


def test_copy_to_with_shared_processes_and_set_image(node: Node, seed: str) -> None:
    copy, renamed = unique("copy"), unique("img")
    try:
        debug(node, seed, "--image=busybox", f"--copy-to={copy}", "--share-processes",
              "--profile=general", "-c", "dbg", "--", "sleep", "3600")
        node.wait_ready(copy)
        pod = get(node, copy)
        assert pod["spec"]["shareProcessNamespace"] is True
        assert pod["spec"]["volumes"][0]["name"] == "shared-data"
        ps = node.kubectl("exec", copy, "-c", "dbg", "--", "ps").stdout
        assert "nginx: master process" in ps and "sleep 3600" in ps
        debug(node, seed, f"--copy-to={renamed}", "--set-image=app-container-2=busybox:latest",
              "--profile=general")
        node.wait_ready(renamed)
        images = {c["name"]: c["image"] for c in get(node, renamed)["spec"]["containers"]}
        assert images == {"app-container-1": "nginx", "app-container-2": "busybox:latest"}
    finally:
        delete(node, copy)
        delete(node, renamed)


def test_debug_node_runs_in_the_host_namespaces(node: Node) -> None:
    name = node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    result = debug(node, f"node/{name}", "-i", "--image=busybox", "--profile=general", "--",
                   "sh", input="cat /host/etc/hostname; ip -4 -o addr; exit\n")
    pod_name = result.stdout.split("Creating debugging pod ")[-1].split()[0] \
        if "Creating debugging pod" in result.stdout else \
        result.stderr.split("Creating debugging pod ")[-1].split()[0]
    try:
        assert Path("/etc/hostname").read_text().strip() in result.stdout
        pod = get(node, pod_name)
        spec, status = pod["spec"], pod["status"]
        assert spec["hostNetwork"] and spec["hostPID"] and spec["hostIPC"]
        assert status["podIP"] == status["hostIP"]
        assert f"inet {status['hostIP']}/" in result.stdout
    finally:
        delete(node, pod_name)


# ---- volumes from outside, on an image with no shell, cat or tar ------------------------------

def static_image(path: Path) -> Path:
    """An OCI image whose only file is the static busybox binary, at /busybox (no /bin/sh, no
    cat, no tar on PATH)."""
    data = Path("/bin/busybox").read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("busybox")
        info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    return oci_archive(path, [OciImage([buf.getvalue()], ref_name=STATIC_IMAGE,
                                       cmd=["/busybox", "sleep", "3600"])])


@pytest.fixture(scope="module")
def static_pod(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node.podhost("images", "load", str(static_image(tmp_path_factory.mktemp("static")
                                                    / "static.oci.tar")))
    name = apply(node, {"metadata": {"name": unique("static")}, "spec": {
        "containers": [{"name": "app", "image": STATIC_IMAGE, "imagePullPolicy": "Never",
                        "command": ["/busybox", "sh", "-c",
                                    "mkdir /data/logs; echo written-by-app > /data/logs/out.txt;"
                                    " exec /busybox sleep 3600"],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]}})
    node.wait_ready(name)
    yield name
    delete(node, name)


def podhost(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODHOST, *args], env=node.env(), capture_output=True, text=True,
                          timeout=60)


def test_volume_ls_cat_cp_without_tar(node: Node, static_pod: str, tmp_path: Path) -> None:
    wait_for(lambda: podhost(node, "volume", "cat", static_pod, "data/logs/out.txt").stdout,
             20, "the app's file")
    listing = podhost(node, "volume", "ls", static_pod).stdout
    assert "data" in listing and "emptyDir" in listing and "app:/data" in listing
    assert "out.txt" in podhost(node, "volume", "ls", static_pod, "data/logs").stdout
    assert podhost(node, "volume", "cat", static_pod, "data/logs/out.txt").stdout == \
        "written-by-app\n"
    local = tmp_path / "in"
    (local / "nested").mkdir(parents=True)
    (local / "nested" / "hello.txt").write_text("hello from the host\n")
    done = podhost(node, "volume", "cp", str(local), f"{static_pod}:data/uploads")
    assert done.returncode == 0, done.stderr
    assert node.kubectl("exec", static_pod, "--", "/busybox", "cat",
                        "/data/uploads/nested/hello.txt").stdout == "hello from the host\n"
    done = podhost(node, "volume", "cp", f"{static_pod}:data", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "logs" / "out.txt").read_text() == "written-by-app\n"
    assert (tmp_path / "out" / "uploads" / "nested" / "hello.txt").exists()


def test_podhost_cp_falls_back_when_the_container_has_no_tar(node: Node, static_pod: str,
                                                             tmp_path: Path) -> None:
    result = node.kubectl("cp", f"{static_pod}:/data/logs/out.txt", str(tmp_path / "k"),
                          check=False)
    assert result.returncode != 0 and '"tar": executable file not found' in result.stderr
    wait_for(lambda: podhost(node, "volume", "cat", static_pod, "data/logs/out.txt").stdout,
             20, "the app's file")
    done = podhost(node, "cp", f"{static_pod}:/data/logs/out.txt", str(tmp_path / "p.txt"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.txt").read_text() == "written-by-app\n"
    (tmp_path / "up.txt").write_text("up\n")
    done = podhost(node, "cp", str(tmp_path / "up.txt"), f"{static_pod}:/data/up.txt")
    assert done.returncode == 0, done.stderr
    assert node.kubectl("exec", static_pod, "--", "/busybox", "cat", "/data/up.txt").stdout \
        == "up\n"
    done = podhost(node, "cp", str(tmp_path / "up.txt"), f"{static_pod}:/etc/up.txt")
    assert done.returncode == 1 and "is not in one of its volumes" in done.stderr


def test_no_path_leaves_the_volume(node: Node, static_pod: str, tmp_path: Path) -> None:
    exec_ = ["exec", static_pod, "--", "/busybox"]
    node.kubectl(*exec_, "ln", "-sf", "/etc", "/data/abs")
    node.kubectl(*exec_, "ln", "-sf", "../../..", "/data/up")
    cases = {
        "data/../../../../etc/passwd": 'is outside the volume "data": ".." is not allowed',
        "data/abs/passwd": 'goes through the symbolic link "abs"',
        "data/up/etc/passwd": 'goes through the symbolic link "up"',
        "data/abs": "is a symbolic link",
        "other/x": 'volume "other" not found',
    }
    for target, message in cases.items():
        result = podhost(node, "volume", "cat", static_pod, target)
        assert result.returncode == 1 and message in result.stderr, (target, result.stderr)
        assert "root:" not in result.stdout
    (tmp_path / "x").write_text("x")
    result = podhost(node, "volume", "cp", str(tmp_path / "x"), f"{static_pod}:data/abs/x")
    assert result.returncode == 1
    assert not Path("/etc/x").exists()
    listing = podhost(node, "volume", "ls", static_pod, "data").stdout
    assert "abs -> /etc" in listing  # listed, never followed


def test_ephemeral_containers_are_adopted_after_a_crash(tmp_path_factory: pytest.TempPathFactory
                                                        ) -> None:
    """kill -9 of the node: a running ephemeral container is adopted (same container, exec
    works), one that had ended stays ended and is not started again."""
    root = tmp_path_factory.mktemp("debug-crash") / "root"
    n = start_node(root)
    try:
        n.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
        n.kubectl("apply", "-f", "-", input=crash_pod("victim", "sleep 3600", 1))
        n.wait_ready("victim")
        for name, command in (("stays", ["sleep", "3600"]), ("ended", ["true"])):
            n.kubectl("debug", "victim", "--image=busybox", "--image-pull-policy=IfNotPresent",
                      "--profile=general", "-c", name, "--target=app", "--", *command)
        wait_for(lambda: "running" in ephemeral_state(n, "victim", "stays")
                 and "terminated" in ephemeral_state(n, "victim", "ended"), 30, "both states")
        before = {s["name"]: s["containerID"]
                  for s in get(n, "victim")["status"]["ephemeralContainerStatuses"]}
        n = crash(n, root)
        wait_for(lambda: n.kubectl("exec", "victim", "-c", "stays", "--", "true",
                                   check=False).returncode == 0, 30, "exec in the adopted one")
        after = {s["name"]: s for s in get(n, "victim")["status"]["ephemeralContainerStatuses"]}
        assert after["stays"]["containerID"] == before["stays"]
        assert "running" in after["stays"]["state"]
        assert "terminated" in after["ended"]["state"]
        assert after["ended"]["restartCount"] == 0
    finally:
        n.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=true",
                  check=False)
        wait_for(lambda: not any((root / "pods").iterdir()) if (root / "pods").exists()
                 else True, 30, "the Pod's clean-up")
        stop_node(n)
