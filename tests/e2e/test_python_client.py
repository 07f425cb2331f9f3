"""The Python client (`kubernetes`) beyond test_apiserver's lifecycle test: streamed logs,
exec with stdin and output, port-forward over the WebSocket channel protocol, and a watch
that sees the Pod's deletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Node
from tests.e2e.test_kubectl_versions import pod_manifest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def v1(node: Node) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(node.kubeconfig)))


@pytest.fixture(scope="module")
def pod(v1: Any, node: Node) -> Iterator[str]:
    """A running Pod with a busybox that keeps logging and nginx on port 80."""
    name = f"py-{uuid.uuid4().hex[:6]}"
    v1.create_namespaced_pod("default", yaml.safe_load(pod_manifest(name)))
    node.wait_ready(name)
    yield name
    node.kubectl("delete", "pod", name, "--ignore-not-found", "--grace-period=0", "--force",
                 check=False)


def test_follow_logs_streams_lines(v1: Any, pod: str) -> None:
    response = v1.read_namespaced_pod_log(pod, "default", container="main", follow=True,
                                          _preload_content=False)
    lines: list[str] = []
    try:
        for chunk in response.stream(64):
            lines += [line for line in chunk.decode().splitlines() if line]
            if len(lines) >= 3:
                break
    finally:
        response.release_conn()
    assert all(line.startswith("line-") for line in lines[:3])


def test_exec_output_stdin_and_return_code(v1: Any, pod: str) -> None:
    from kubernetes.stream import stream

    output = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container="main",
                    command=["sh", "-c", "echo out; echo err >&2"], stderr=True, stdin=False,
                    stdout=True, tty=False)
    assert sorted(output.split()) == ["err", "out"]
    session = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container="main",
                     command=["sh", "-c", "read line; echo got-$line; exit 6"], stderr=True,
                     stdin=True, stdout=True, tty=False, _preload_content=False)
    session.write_stdin("hello\n")
    session.run_forever(timeout=20)
    assert session.read_stdout() == "got-hello\n"
    assert session.returncode == 6


def fetch_through(forward: Any, port: int, timeout: float = 20) -> bytes:
    sock = forward.socket(port)
    sock.setblocking(True)
    sock.settimeout(timeout)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"</html>" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_port_forward_channels(v1: Any, pod: str) -> None:
    from kubernetes.stream import portforward

    forward = portforward(v1.connect_get_namespaced_pod_portforward, pod, "default",
                          ports="80")
    try:
        data = fetch_through(forward, 80)
    finally:
        forward.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and b"nginx" in data
    assert forward.error(80) is None


def test_delete_seen_by_watch(v1: Any, pod: str) -> None:
    from kubernetes import watch

    version = v1.read_namespaced_pod(pod, "default").metadata.resource_version
    v1.delete_namespaced_pod(pod, "default", grace_period_seconds=0)
    events: list[str] = []
    for event in watch.Watch().stream(v1.list_namespaced_pod, "default",
                                      field_selector=f"metadata.name={pod}",
                                      resource_version=version, timeout_seconds=30):
        events.append(event["type"])
        if event["type"] == "DELETED":
            break
    assert events and events[-1] == "DELETED"
    assert pod not in [p.metadata.name for p in v1.list_namespaced_pod("default").items]
