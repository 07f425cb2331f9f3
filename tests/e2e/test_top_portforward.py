"""`top pod`/`top node` through metrics.k8s.io (real kubectl and podhost) and
`podhost port-forward` over the WebSocket SPDY tunnel, against the session node."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.e2e.conftest import PODHOST, Node, free_port

pytestmark = pytest.mark.e2e
T = TypeVar("T")
LABEL = f"top-e2e-{uuid.uuid4().hex[:6]}"
BURN = f"burn-{LABEL}"
WEB = f"web-{LABEL}"
PAGE = "hello from podhost port-forward"

PODS = f"""
apiVersion: v1
kind: Pod
metadata:
  name: {BURN}
  labels: {{suite: {LABEL}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: burn
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "while :; do :; done"]
  - name: idle
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: {WEB}
  labels: {{suite: {LABEL}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: httpd
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - mkdir -p /www && echo '{PAGE}' > /www/index.html && exec httpd -f -p 8080 -h /www
    ports: [{{name: http, containerPort: 8080}}]
"""


@pytest.fixture(scope="module")
def pods(node: Node) -> Iterator[Node]:
    node.kubectl("apply", "-f", "-", input=PODS)
    try:
        node.wait_ready(BURN)
        node.wait_ready(WEB)
        yield node
    finally:
        node.kubectl("delete", "pod", BURN, WEB, "--grace-period=0", "--force", check=False)


def eventually(check: Callable[[], T | None], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(1)


def podhost(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODHOST, *args], env=node.env(), capture_output=True, text=True,
                          timeout=60)


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def columns(text: str) -> list[list[int]]:
    """Where each cell starts, line by line: the layout without the values."""
    return [[m.start() for m in re.finditer(r"\S+", line)] for line in text.splitlines()]


def millicores(cell: str) -> int:
    assert cell.endswith("m"), cell
    return int(cell[:-1])


def burning(node: Node, tool: str) -> str | None:
    run = node.kubectl if tool == "kubectl" else lambda *a, **k: podhost(node, *a)
    out = run("top", "pod", BURN, "--containers", check=False) if tool == "kubectl" \
        else run("top", "pod", BURN, "--containers")
    if out.returncode != 0:
        return None
    rows = {r[1]: r for r in table(out.stdout)[1:]}
    return out.stdout if "burn" in rows and millicores(rows["burn"][2]) >= 100 else None


@pytest.mark.parametrize("tool", ["kubectl", "podhost"])
def test_top_pod_shows_the_busy_loop(pods: Node, tool: str) -> None:
    out = eventually(lambda: burning(pods, tool))
    rows = table(out)
    assert rows[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    by_container = {r[1]: r for r in rows[1:]}
    assert set(by_container) == {"burn", "idle"}
    assert millicores(by_container["idle"][2]) < 100
    assert all(re.fullmatch(r"\d+Mi", r[3]) for r in rows[1:])


def test_podhost_top_pod_prints_what_kubectl_prints(pods: Node) -> None:
    eventually(lambda: burning(pods, "podhost"))
    for args in (["top", "pod", "-l", f"suite={LABEL}"],
                 ["top", "pod", "-l", f"suite={LABEL}", "--containers"],
                 ["top", "pod", "-A", "-l", f"suite={LABEL}"]):
        theirs = pods.kubectl(*args).stdout
        ours = podhost(pods, *args)
        assert ours.returncode == 0, ours.stderr
        assert [r[:-2] for r in table(ours.stdout)] == [r[:-2] for r in table(theirs)]
        assert ours.stdout.splitlines()[0] == theirs.splitlines()[0]  # trailing blanks too
        assert columns(ours.stdout) == columns(theirs)
    rows = {r[0]: r for r in table(podhost(pods, "top", "pod", "-l", f"suite={LABEL}").stdout)}
    assert millicores(rows[BURN][1]) >= 100
    assert int(rows[BURN][2][:-2]) >= 0 and rows[WEB][2].endswith("Mi")
    everywhere = table(podhost(pods, "top", "pod", "-A").stdout)
    assert everywhere[0][0] == "NAMESPACE" and ["default", BURN] in [r[:2] for r in everywhere]


def test_memory_is_measured(pods: Node) -> None:
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/{WEB}"
    metrics = json.loads(pods.kubectl("get", "--raw", path).stdout)
    assert metrics["kind"] == "PodMetrics" and metrics["window"].endswith("s")
    [httpd] = metrics["containers"]
    assert re.fullmatch(r"\d+(Ki|Mi)?", httpd["usage"]["memory"])
    assert int(re.sub(r"\D", "", httpd["usage"]["memory"])) > 0
    assert re.fullmatch(r"\d+[num]?", httpd["usage"]["cpu"])


def test_top_node(pods: Node) -> None:
    theirs = pods.kubectl("top", "node").stdout
    ours = podhost(pods, "top", "node")
    assert ours.returncode == 0, ours.stderr
    assert table(theirs)[0] == table(ours.stdout)[0] == \
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert [r[0] for r in table(theirs)] == [r[0] for r in table(ours.stdout)]
    row = table(ours.stdout)[1]
    assert millicores(row[1]) > 0 and row[2].endswith("%") and int(row[3][:-2]) > 0


def test_top_errors(pods: Node) -> None:
    missing = podhost(pods, "top", "pod", "nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == \
        'Error from server (NotFound): podmetrics.metrics.k8s.io "nope" not found'
    assert podhost(pods, "top", "pod", "-l", "suite=none").stderr.strip() == \
        "No resources found in default namespace."


def fetch(url: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_forward(node: Node, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PODHOST, "port-forward", *args], env=node.env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(forward: subprocess.Popen[str]) -> tuple[int, str, str]:
    forward.send_signal(signal.SIGINT)
    out, err = forward.communicate(timeout=15)
    return forward.returncode, out, err


def test_port_forward_serves_the_page_until_ctrl_c(pods: Node) -> None:
    port = free_port()
    forward = start_forward(pods, f"pod/{WEB}", f"{port}:8080")
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline() == f"Forwarding from 127.0.0.1:{port} -> 8080\n"
        for _ in range(3):
            assert fetch(f"http://127.0.0.1:{port}/").strip() == PAGE
    finally:
        code, out, err = stop(forward)
    assert code == 0, err
    assert "Traceback" not in err and err == ""
    assert out.count(f"Handling connection for {port}\n") == 3


def test_port_forward_named_port_and_address(pods: Node) -> None:
    port = free_port()
    forward = start_forward(pods, WEB, f"{port}:http", "--address", "127.0.0.1")
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline() == f"Forwarding from 127.0.0.1:{port} -> 8080\n"
        assert fetch(f"http://127.0.0.1:{port}/index.html").strip() == PAGE
    finally:
        code, _, err = stop(forward)
    assert code == 0 and "Traceback" not in err


def test_port_forward_errors(pods: Node) -> None:
    port = free_port()
    forward = start_forward(pods, WEB, f"{port}:9")  # nothing listens on 9 in the Pod
    assert forward.stdout is not None
    assert forward.stdout.readline() == f"Forwarding from 127.0.0.1:{port} -> 9\n"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    out, err = forward.communicate(timeout=15)
    assert forward.returncode == 1 and "Traceback" not in err
    assert err.endswith(f"an error occurred forwarding {port} -> 9: failed to connect to "
                        f"localhost:9 inside namespace of pod {WEB}: Connection refused\n"
                        "error: lost connection to pod\n")
    gone = subprocess.run([PODHOST, "port-forward", "nope", "8080:80"], env=pods.env(),
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1
    assert gone.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
