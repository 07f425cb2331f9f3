"""The podhost CLI (issue 8) against real nodes: the session node, a second node reached only
through `--context` (standing in for a remote cluster), and `up`/`status`/`down` on a temp root."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.e2e.conftest import PODHOST, Node, free_port, start_node, stop_node

pytestmark = pytest.mark.e2e

SEED = REPO / "examples" / "data-sharing-pod.yaml"
SHARED = "Shared data from app-container-2"
HTML = "/usr/share/nginx/html"


def podhost(env: dict[str, str], *args: str, input: str | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODHOST, *args], env=env, input=input, capture_output=True,
                          text=True, timeout=timeout)


def ok(env: dict[str, str], *args: str, **kw: object) -> str:
    out = podhost(env, *args, **kw)  # type: ignore[arg-type]
    assert out.returncode == 0, f"podhost {' '.join(args)}: {out.returncode}\n{out.stderr}"
    assert "Traceback" not in out.stderr
    return out.stdout


def run_tty(env: dict[str, str], args: list[str], keys: list[bytes], expect: bytes,
            timeout: float = 30) -> tuple[int, bytes]:
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(env)
        os.execv(PODHOST, [PODHOST, *args])
    out, sent, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
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


def offline_seed(tmp_path: Path) -> Path:
    """The seed with imagePullPolicy IfNotPresent: the nodes have the images but no registry."""
    pod = yaml.safe_load(SEED.read_text())
    for c in pod["spec"]["containers"]:
        c["imagePullPolicy"] = "IfNotPresent"
    path = tmp_path / "data-sharing-pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    return path


def everyday_verbs(env: dict[str, str], extra: list[str], tmp_path: Path) -> None:
    """apply, get, exec, exec -it, logs, cp, delete on the seed Pod, with flags `extra`."""
    x = extra
    seed = str(offline_seed(tmp_path))
    assert ok(env, *x, "apply", "-f", seed).strip() == "pod/data-sharing-pod created"
    # `configured`, as on a cluster: the kube-api-access volume makes kubectl send
    # `$setElementOrder` directives (test_seed.py)
    assert ok(env, *x, "apply", "-f", seed).strip() == "pod/data-sharing-pod configured"
    assert ok(env, *x, "wait", "--for=condition=Ready", "pod/data-sharing-pod",
              "--timeout=60s").strip() == "pod/data-sharing-pod condition met"

    out = ok(env, *x, "get", "pods")
    assert out.startswith("NAME               READY   STATUS    RESTARTS   AGE\n"), out
    assert re.search(r"^data-sharing-pod   2/2     Running   0          \S+$", out, re.M), out
    assert ok(env, *x, "get", "pod", "data-sharing-pod", "-o",
              "jsonpath={.spec.containers[*].name}") == "app-container-1 app-container-2"
    assert ok(env, *x, "get", "pods", "-o", "name") == "pod/data-sharing-pod\n"
    assert yaml.safe_load(ok(env, *x, "get", "pod", "data-sharing-pod", "-o", "yaml"))[
        "status"]["phase"] == "Running"

    for c in ("app-container-1", "app-container-2"):
        out = ok(env, *x, "exec", "data-sharing-pod", "-c", c, "--", "cat", f"{HTML}/index.html")
        assert out.strip() == SHARED
    failed = podhost(env, *x, "exec", "data-sharing-pod", "-c", "app-container-2", "--",
                     "sh", "-c", "echo oops >&2; exit 3")
    assert failed.returncode == 3
    assert failed.stderr == "oops\ncommand terminated with exit code 3\n"
    piped = ok(env, *x, "exec", "-i", "data-sharing-pod", "-c", "app-container-2", "--", "cat",
               input="from stdin\n")
    assert piped == "from stdin\n"

    rc, text = run_tty(env, [*x, "exec", "-it", "data-sharing-pod", "-c", "app-container-1",
                             "--", "/bin/bash"],
                       [b"cat /usr/share/nginx/html/index.html\r", b"exit\r"], b"#")
    assert rc == 0, text
    assert SHARED.encode() in text

    logs = podhost(env, *x, "logs", "data-sharing-pod")
    assert logs.returncode == 0
    assert logs.stderr.startswith('Defaulted container "app-container-1" out of: '
                                  "app-container-1, app-container-2")
    assert ok(env, *x, "logs", "data-sharing-pod", "-c", "app-container-2") == ""

    local = tmp_path / "note.txt"
    local.write_text("copied in\n")
    ok(env, *x, "cp", str(local), f"data-sharing-pod:{HTML}/note.txt", "-c", "app-container-2")
    out = ok(env, *x, "exec", "data-sharing-pod", "-c", "app-container-1", "--",
             "cat", f"{HTML}/note.txt")
    assert out == "copied in\n"
    back = tmp_path / "back.html"
    ok(env, *x, "cp", f"data-sharing-pod:{HTML}/index.html", str(back), "-c", "app-container-1")
    assert back.read_text().strip() == SHARED

    out = ok(env, *x, "describe", "pod", "data-sharing-pod")
    assert out.startswith("Name:             data-sharing-pod\nNamespace:        default\n")
    assert "  app-container-2:\n" in out and "Events:" in out

    # graceful, so that the node has stopped the containers when the object is gone
    out = ok(env, *x, "delete", "pod", "data-sharing-pod", "--grace-period=1")
    assert out == 'pod "data-sharing-pod" deleted\n'
    gone = podhost(env, *x, "get", "pod", "data-sharing-pod")
    assert gone.returncode == 1
    assert gone.stderr == 'Error from server (NotFound): pods "data-sharing-pod" not found\n'


def test_everyday_verbs_on_the_local_node(node: Node, tmp_path: Path) -> None:
    try:
        everyday_verbs(node.env(), [], tmp_path)
    finally:
        podhost(node.env(), "delete", "pod", "data-sharing-pod", "--grace-period=1")


def merged_kubeconfig(local: Node, remote: Node, path: Path) -> Path:
    """The local node's kubeconfig plus the remote's context renamed `far`."""
    mine = yaml.safe_load(local.kubeconfig.read_text())
    theirs = yaml.safe_load(remote.kubeconfig.read_text())
    for key in ("clusters", "users", "contexts"):
        for entry in theirs[key]:
            entry["name"] = "far"
            if key == "contexts":
                entry["context"].update(cluster="far", user="far")
            mine[key].append(entry)
    path.write_text(yaml.safe_dump(mine))
    return path


def test_verbs_through_context_of_a_second_node(node: Node, tmp_path: Path) -> None:
    remote = start_node(tmp_path / "remote")
    try:
        for image in ("busybox", "nginx"):
            remote.podhost("images", "load", str(REPO / "build" / "test-images" /
                                                 f"{image}.oci.tar"))
        env = dict(node.env(), KUBECONFIG=str(merged_kubeconfig(node, remote,
                                                                tmp_path / "config")))
        try:
            everyday_verbs(env, ["--context", "far"], tmp_path)
        finally:
            podhost(env, "delete", "--context", "far", "pod", "data-sharing-pod",
                    "--grace-period=1")
        # the local node never saw it
        assert "data-sharing-pod" not in ok(node.env(), "get", "pods", "-A")
    finally:
        stop_node(remote)


def test_errors_are_kubectl_texts(node: Node, tmp_path: Path) -> None:
    env = node.env()
    out = podhost(env, "get", "pod", "cli-nope")
    assert (out.returncode, out.stderr) == \
        (1, 'Error from server (NotFound): pods "cli-nope" not found\n')
    out = podhost(env, "get", "widgets")
    assert (out.returncode, out.stderr) == \
        (1, 'error: the server doesn\'t have a resource type "widgets"\n')
    out = podhost(env, "get", "pods", "--context", "nope")
    assert (out.returncode, out.stderr) == (1, 'error: context "nope" does not exist\n')
    out = podhost(env, "get", "pods", "-l", "app=cli-nothing")
    assert (out.returncode, out.stderr) == (0, "No resources found in default namespace.\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: cli-bad}\n"
                   "spec: {containers: [{name: c}]}\n")
    out = podhost(env, "apply", "-f", str(bad))
    assert out.returncode == 1
    assert out.stderr.startswith('The Pod "cli-bad" is invalid:'), out.stderr
    assert "spec.containers[0].image: Required value" in out.stderr


def test_up_status_down_on_a_temporary_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = dict(os.environ, PODHOST_ROOT=str(root), KUBECONFIG=str(tmp_path / "none"))
    port = str(free_port())
    out = ok(env, "up", "--port", port, "--no-kubeconfig-update")
    assert f"podhost node is ready at https://127.0.0.1:{port}" in out
    try:
        assert (root / "podhost.pid").exists() and (root / "serve.log").exists()
        status = ok(env, "status")
        assert re.search(r"^node:\s+running \(pid \d+\)$", status, re.M), status
        assert re.search(r"^health:\s+ok$", status, re.M)
        assert re.search(r"^pods:\s+0$", status, re.M)
        assert "already running" in ok(env, "up")
        assert ok(env, "get", "ns", "default", "-o", "name") == "namespace/default\n"
    finally:
        out = ok(env, "down", "--delete-pods")
    assert out.startswith("podhost node stopped")
    assert re.search(r"^node:\s+stopped$", ok(env, "status"), re.M)


WAITED = """apiVersion: v1
kind: Pod
metadata: {name: cli-wait}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
"""
NEVER = WAITED.replace("cli-wait", "cli-never").replace("IfNotPresent", "Never").replace(
    "image: busybox", "image: podhost-test/absent:1")


def test_apply_wait_follows_the_pod(node: Node) -> None:
    """`apply --wait` prints the Pod's events and container states until it runs (exit 0) or
    cannot (exit 1 with the reason)."""
    env = node.env()
    try:
        out = ok(env, "apply", "-f", "-", "--wait", "--timeout", "60s", input=WAITED)
        lines = out.splitlines()
        assert lines[0] == "pod/cli-wait created"
        assert "  main: Running, ready" in lines or "  main: Running" in lines
        assert any(line.startswith("  Started: Started container main") for line in lines)
        assert lines[-1] == "pod/cli-wait Running"
        failed = podhost(env, "apply", "-f", "-", "--wait", "--timeout", "30s", input=NEVER)
        assert failed.returncode == 1
        assert failed.stdout.splitlines()[0] == "pod/cli-never created"
        assert "error: pod/cli-never: container main: ErrImageNeverPull" in failed.stdout
    finally:
        podhost(env, "delete", "pod", "cli-wait", "cli-never", "--grace-period=0", "--force")


def test_apply_server_side(node: Node) -> None:
    """`podhost apply --server-side` as kubectl's: owned fields, conflicts, --force-conflicts."""
    env = node.env()
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cli-ssa}\ndata: {a: '1'}\n"
    try:
        assert ok(env, "apply", "--server-side", "-f", "-", input=cm) == \
            "configmap/cli-ssa serverside-applied\n"
        other = cm.replace("'1'", "'2'")
        refused = podhost(env, "apply", "--server-side", "--field-manager", "other", "-f", "-",
                          input=other)
        assert refused.returncode == 1
        assert 'conflict with "kubectl"' in refused.stderr and ".data.a" in refused.stderr
        assert ok(env, "apply", "--server-side", "--field-manager", "other",
                  "--force-conflicts", "-f", "-", input=other) == \
            "configmap/cli-ssa serverside-applied\n"
        data = node.kubectl("get", "configmap", "cli-ssa", "-o", "jsonpath={.data.a}").stdout
        assert data == "2"
    finally:
        podhost(env, "delete", "configmap", "cli-ssa")


def test_doctor_checks_what_the_node_needs(node: Node) -> None:
    out = node.podhost("doctor").stdout.splitlines()
    names = [line.split()[2] for line in out[:-1] if line.startswith("[")]
    assert names == ["overlayfs", "tmpfs", "cgroups", "root", "runc", "conmon", "iproute2",
                     "nftables", "btrfs-progs", "ingress", "disk", "state"]
    assert out[-1] == "12/12 checks passed"
    ingress = next(line for line in out if line.split()[2:3] == ["ingress"])
    assert "HAProxy version 2." in ingress and "(http)" in ingress  # the node's listeners
