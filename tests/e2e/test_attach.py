"""Container stdin/tty and `pods/attach` with real kubectl: `run -i --rm`, `attach -i`,
`attach -it` on a terminal, and plain `attach` following the output."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import apply, delete, get, unique, wait_for

pytestmark = pytest.mark.e2e


def busybox_pod(name: str, command: list[str], **container: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox", "command": command,
                                     **container}]}}


def start_kubectl(node: Node, *args: str, tty: bool = False) -> tuple[subprocess.Popen[bytes],
                                                                       int, int]:
    """kubectl in the background; returns it with the fds to write to and read from (a pty's
    master when tty, else its stdin and stdout pipes)."""
    if tty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(["kubectl", *args], env=node.env(), stdin=slave, stdout=slave,
                                stderr=slave, start_new_session=True)
        os.close(slave)
        return proc, master, master
    proc = subprocess.Popen(["kubectl", *args], env=node.env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    return proc, proc.stdin.fileno(), proc.stdout.fileno()


def read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while marker not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {marker!r} within {timeout}s: {out!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the pty's other side has gone
            chunk = b""
        if not chunk:
            raise AssertionError(f"end of output before {marker!r}: {out!r}")
        out += chunk
    return out


def stop(proc: subprocess.Popen[bytes], *fds: int) -> None:
    """Interrupt kubectl (a detach: the container keeps running); close its pipes and fds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    for fd in fds:
        os.close(fd)


def test_run_interactive_rm(node: Node) -> None:
    name = unique("run-i")
    result = node.kubectl("run", "-i", "--rm", "--restart=Never", "--image=busybox",
                          "--image-pull-policy=IfNotPresent", name, "--",
                          "sh", "-c", "read x; echo got $x", input="hello\n", timeout=120)
    assert "got hello\n" in result.stdout, (result.stdout, result.stderr)
    assert f'pod "{name}" deleted' in result.stdout + result.stderr
    gone = node.kubectl("get", "pod", name, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_attach_stdin_without_tty(node: Node) -> None:
    name = apply(node, busybox_pod(unique("attach-i"),
                                   ["sh", "-c", 'while read l; do echo "echo:$l"; done'],
                                   stdin=True))
    try:
        node.wait_ready(name)
        for word in (b"one", b"two"):  # stdinOnce false: stdin stays open across attaches
            proc, to_kubectl, from_kubectl = start_kubectl(node, "attach", "-i", name)
            try:
                time.sleep(1)  # output written before the attach is not replayed
                os.write(to_kubectl, word + b"\n")
                read_until(from_kubectl, b"echo:" + word)
            finally:
                stop(proc)
        pod = get(node, name)
        assert pod["status"]["phase"] == "Running"
        assert "running" in pod["status"]["containerStatuses"][0]["state"]
    finally:
        delete(node, name)


def test_attach_tty(node: Node) -> None:
    name = apply(node, busybox_pod(unique("attach-t"), ["sh"], stdin=True, tty=True))
    try:
        node.wait_ready(name)
        proc, master, _ = start_kubectl(node, "attach", "-it", name, tty=True)
        try:
            read_until(master, b"If you don't see a command prompt, try pressing enter.")
            os.write(master, b"\r")
            read_until(master, b"# ")
            os.write(master, b"echo tty=$(tty) sum=$((40+2))\r")
            out = read_until(master, b"sum=42")
            assert b"tty=/dev/pts/" in out
        finally:
            stop(proc, master)
        assert get(node, name)["status"]["phase"] == "Running"
    finally:
        delete(node, name)


def test_attach_follows_output(node: Node) -> None:
    script = "i=0; while true; do echo line $i; i=$((i+1)); sleep 1; done"
    name = apply(node, busybox_pod(unique("attach-o"), ["sh", "-c", script]))
    try:
        node.wait_ready(name)
        proc, _, from_kubectl = start_kubectl(node, "attach", name)
        try:
            first = re.search(rb"line (\d+)\n", read_until(from_kubectl, b"line ", timeout=10)
                              + read_until(from_kubectl, b"\n", timeout=5))
            assert first is not None
            read_until(from_kubectl, f"line {int(first[1]) + 2}\n".encode(), timeout=10)
        finally:
            stop(proc)
        no_stdin = node.kubectl("attach", "-i", name, input="x\n", check=False, timeout=30)
        assert no_stdin.returncode == 1
        assert "the container is not configured with stdin" in no_stdin.stderr
    finally:
        delete(node, name)


def test_attach_stdin_once_over_spdy(node: Node) -> None:
    """kubectl's SPDY/3.1 transport; with stdinOnce the end of kubectl's stdin ends the
    container's, so the container ends and kubectl with it."""
    name = apply(node, busybox_pod(unique("attach-spdy"),
                                   ["sh", "-c", 'while read l; do echo "echo:$l"; done'],
                                   stdin=True, stdinOnce=True))
    try:
        node.wait_ready(name)
        env = dict(node.env(), KUBECTL_REMOTE_COMMAND_WEBSOCKETS="false")
        result = subprocess.run(["kubectl", "attach", "-i", name], env=env, input="a\nb\n",
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "echo:a\necho:b\n"
        wait_for(lambda: get(node, name)["status"]["phase"] == "Succeeded", 20, "Succeeded")
    finally:
        delete(node, name)

