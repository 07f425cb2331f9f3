"""The everyday kubectl flows with every kubectl from 1.27 to 1.33, against one real node.

kubectl 1.27/1.28 validate apply through /openapi/v2 (protobuf); 1.29 and older speak SPDY/3.1
for exec and port-forward; 1.30+ exec over WebSocket v5; 1.31+ port-forward SPDY tunnelled in a
WebSocket. One Pod per version (a busybox that keeps logging, nginx on port 80) serves every
flow; the tests of a version run in file order and the last one deletes the Pod.
"""

from __future__ import annotations

import json
import os
import queue
import select
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin"
VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]


def pod_manifest(name: str, round: str = "one") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: versions
    round: {round}
spec:
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false  # so that a second apply is `unchanged` (see test_seed)
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"]
  - name: web
    image: nginx
    imagePullPolicy: IfNotPresent
"""


def minor(version: str) -> int:
    return int(version.split(".")[1])


def upgrade_methods(verbose_stderr: str, subresource: str) -> set[str]:
    """The methods of the upgrade requests in `-v=8` output: GET is the WebSocket handshake,
    POST the SPDY/3.1 upgrade (also the fallback after a failed handshake)."""
    return {method for line in verbose_stderr.splitlines() for method in ("GET", "POST")
            if (f" {method} " in line or f'verb="{method}"' in line)
            and f"/{subresource}" in line}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """The stdout lines of a running process, read by a thread, awaited with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line in {timeout}s; got {self.seen}")

    def stop(self) -> str:
        """Terminate the process; returns its stderr."""
        if self.process.poll() is None:
            self.process.terminate()
        _, err = self.process.communicate(timeout=10)
        return err or ""


@dataclass
class Kubectl:
    """One kubectl release pointed at the node, with its own cold discovery cache."""

    version: str
    node: Node
    cache: Path
    pod: str

    def argv(self, *args: str) -> list[str]:
        return [f"{KUBECTL_DIR}/kubectl.{self.version}", "--kubeconfig",
                str(self.node.kubeconfig), f"--cache-dir={self.cache}", *args]

    def run(self, *args: str, input: str | None = None, timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(*args), input=input, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl.{self.version} {' '.join(args)} failed "
                                 f"({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, *args: str) -> Lines:
        return Lines(subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))


@pytest.fixture(scope="module", params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, node: Node,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    version = request.param
    k = Kubectl(version, node, tmp_path_factory.mktemp(f"cache-{version}"),
                f"v{version.replace('.', '-')}")
    yield k
    k.run("delete", "pod", k.pod, "--ignore-not-found", "--grace-period=0", "--force",
          check=False)


def test_version_and_apply(kubectl: Kubectl) -> None:
    reported = json.loads(kubectl.run("version", "-o", "json").stdout)
    assert reported["clientVersion"]["minor"] == str(minor(kubectl.version))
    assert reported["serverVersion"]["minor"] == "32"
    result = kubectl.run("apply", "-f", "-", input=pod_manifest(kubectl.pod))
    assert result.stdout.strip() == f"pod/{kubectl.pod} created", result.stderr
    again = kubectl.run("apply", "-f", "-", input=pod_manifest(kubectl.pod))
    assert again.stdout.strip() == f"pod/{kubectl.pod} unchanged", again.stderr
    changed = kubectl.run("apply", "-f", "-", input=pod_manifest(kubectl.pod, round="two"))
    assert changed.stdout.strip() == f"pod/{kubectl.pod} configured", changed.stderr
    labels = kubectl.run("get", "pod", kubectl.pod, "-o", "jsonpath={.metadata.labels.round}")
    assert labels.stdout == "two"


def test_get_watch_sees_running(kubectl: Kubectl) -> None:
    watch = kubectl.start("get", "pods", "-w", "-l", "app=versions", "--request-timeout=0")
    try:
        header = watch.until(lambda line: line.startswith("NAME"))
        assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        row = watch.until(lambda line: line.split()[:3] == [kubectl.pod, "2/2", "Running"])
        assert row.split()[3] == "0"
    finally:
        watch.stop()


def test_wait_for_ready(kubectl: Kubectl) -> None:
    result = kubectl.run("wait", "--for=condition=Ready", f"pod/{kubectl.pod}", "--timeout=60s",
                         timeout=70)
    assert result.stdout.strip() == f"pod/{kubectl.pod} condition met"


def test_describe(kubectl: Kubectl) -> None:
    out = kubectl.run("describe", "pod", kubectl.pod).stdout
    fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
              for line in out.splitlines() if ":" in line and not line.startswith(" ")}
    assert fields["Name"] == kubectl.pod and fields["Status"] == "Running"
    assert "Labels" in fields and fields["Namespace"] == "default"
    assert "  main:" in out and "  web:" in out and "Events:" in out


def test_logs_follow(kubectl: Kubectl) -> None:
    follow = kubectl.start("logs", "-f", kubectl.pod, "-c", "main")
    try:
        first = follow.until(lambda line: line.startswith("line-"))
        later = follow.until(lambda line: line.startswith("line-") and line != first, 10)
        assert int(later.removeprefix("line-")) > int(first.removeprefix("line-"))
    finally:
        follow.stop()
    tail = kubectl.run("logs", kubectl.pod, "-c", "main", "--tail=2").stdout.splitlines()
    assert len(tail) == 2 and all(line.startswith("line-") for line in tail)


def test_exec_exit_codes(kubectl: Kubectl) -> None:
    ok = kubectl.run("exec", "-v=8", kubectl.pod, "-c", "main", "--", "echo", "hello")
    assert (ok.returncode, ok.stdout) == (0, "hello\n")
    websocket = minor(kubectl.version) >= 30
    assert upgrade_methods(ok.stderr, "exec") == ({"GET"} if websocket else {"POST"})
    failed = kubectl.run("exec", kubectl.pod, "-c", "main", "--", "sh", "-c", "echo e >&2; exit 3",
                         check=False)
    assert failed.returncode == 3
    assert failed.stderr == "e\ncommand terminated with exit code 3\n"
    piped = kubectl.run("exec", "-i", kubectl.pod, "-c", "main", "--", "tr", "a-z", "A-Z",
                        input="piped\n")
    assert piped.stdout == "PIPED\n"


def read_pty(fd: int, until: bytes, timeout: float = 20) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: kubectl closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def test_exec_interactive_tty(kubectl: Kubectl) -> None:
    primary, secondary = os.openpty()
    process = subprocess.Popen(kubectl.argv("exec", "-it", kubectl.pod, "-c", "main", "--", "sh"),
                               stdin=secondary, stdout=secondary, stderr=secondary,
                               start_new_session=True)
    os.close(secondary)
    try:
        os.write(primary, b"echo tty-$((6*7)); tty\r")
        out = read_pty(primary, b"/dev/pts/")
        assert b"tty-42" in out, out
        os.write(primary, b"exit 4\r")
        read_pty(primary, b"\x00", timeout=5)
        assert process.wait(timeout=20) == 4
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(primary)


def test_port_forward(kubectl: Kubectl) -> None:
    port = free_port()
    forward = kubectl.start("port-forward", "-v=8", f"pod/{kubectl.pod}", f"{port}:80")
    try:
        forward.until(lambda line: line.startswith("Forwarding from 127.0.0.1"))
        for _ in range(2):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                    assert r.status == 200 and b"nginx" in r.read()
            except OSError as e:
                raise AssertionError(
                    f"no answer through port-forward: {e}\n{forward.stop()}") from e
        assert forward.process.poll() is None
    finally:
        err = forward.stop()
    assert not [line for line in err.splitlines() if line.startswith(("E", "error:"))], err
    websocket = minor(kubectl.version) >= 31
    assert upgrade_methods(err, "portforward") == ({"GET"} if websocket else {"POST"})


def test_delete_and_wait_for_delete(kubectl: Kubectl) -> None:
    waiter = subprocess.Popen(kubectl.argv("wait", "--for=delete", f"pod/{kubectl.pod}",
                                           "--timeout=60s"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        deleted = kubectl.run("delete", "pod", kubectl.pod, timeout=90)
        assert deleted.stdout.strip() == f'pod "{kubectl.pod}" deleted'
        out, err = waiter.communicate(timeout=70)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 0, err
    assert out.strip() == f"pod/{kubectl.pod} condition met"
    gone = kubectl.run("get", "pod", kubectl.pod, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
