"""Hostile input against a real node: a Pod's FIFO, device node and swapping symlinks never
block the volume browser or Pod deletion; bodies over 3 MiB and nesting past Go's limit are
answered in kube-apiserver's words; and a bounded hypothesis tier sends random requests of every
verb and content type and never gets a 5xx."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import PODHOST, TEST_IMAGES, Node, start_node, stop_node

pytestmark = pytest.mark.e2e

NS = "hostile"
TRAPS = f"""
apiVersion: v1
kind: Pod
metadata: {{name: traps, namespace: {NS}}}
spec:
  terminationGracePeriodSeconds: 0
  volumes: [{{name: v, emptyDir: {{}}}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{{name: v, mountPath: /v}}]
    command: [sh, -c, 'mkfifo /v/fifo && mknod /v/null c 1 3 && touch /v/ready &&
      while true; do ln -sfn /v/fifo /v/swap; rm -f /v/swap; mkfifo /v/swap; rm -f /v/swap;
      echo x > /v/swap; rm -f /v/swap; done']
"""
VICTIM = f"""
apiVersion: v1
kind: Pod
metadata: {{name: victim, namespace: {NS}}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{{name: c, image: busybox, command: [sleep, "3600"]}}]
"""



@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    """A node of this file's own: the fuzz tier creates random objects of every kind (quotas,
    limit ranges, webhooks, priority classes...), which must not reach other tests' Pods."""
    root = tmp_path_factory.mktemp("hostile") / "root"
    n = start_node(root, ["--registries-conf", str(registries_conf)])
    for name in ("busybox", "nginx"):
        n.podhost("images", "load", str(TEST_IMAGES / f"{name}.oci.tar"))
    try:
        yield n
    finally:
        stop_node(n)

@pytest.fixture(scope="module")
def ns(node: Node) -> str:
    node.kubectl("create", "namespace", NS)
    return NS


def volume(node: Node, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run([PODHOST, "volume", *args], env=node.env(), capture_output=True,
                         text=True, timeout=30)
    return out, time.monotonic() - started


def test_fifo_device_and_symlink_races_never_block_the_node(node: Node, ns: str,
                                                           tmp_path: Path) -> None:
    node.kubectl("apply", "-f", "-", input=TRAPS)
    node.kubectl("apply", "-f", "-", input=VICTIM)
    for pod in ("traps", "victim"):
        node.kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "-n", ns, "--timeout=180s",
                     timeout=190)
    deadline = time.monotonic() + 30
    while "ready" not in volume(node, "ls", "-n", ns, "traps", "v")[0].stdout:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    local = tmp_path / "payload"
    local.write_text("data\n")
    targets = [("cp", str(local), f"{ns}/traps:v/fifo")] * 8 + [
        ("cp", str(local), f"{ns}/traps:v/null"), ("cat", "-n", ns, "traps", "v/fifo"),
        ("cat", "-n", ns, "traps", "v/null")] + [("cp", str(local), f"{ns}/traps:v/swap"),
                                             ("cat", "-n", ns, "traps", "v/swap")] * 10
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda args: volume(node, *args), targets))
    for (out, seconds), args in zip(results, targets, strict=True):
        assert seconds < 10, (args, seconds)
        if args[-1].endswith(("fifo", "null")):
            assert out.returncode != 0 and "is not a regular file" in out.stderr, (args, out)
    started = time.monotonic()
    node.kubectl("delete", "pod", "victim", "-n", ns, "--grace-period=0", "--wait=true",
                 "--timeout=30s", timeout=40)
    deleted = time.monotonic() - started
    print(f"slowest volume request {max(t for _, t in results):.2f}s, Pod deleted in "
          f"{deleted:.2f}s")
    assert deleted < 10
    assert "ready" in volume(node, "ls", "-n", ns, "traps", "v")[0].stdout


def _connection(node: Node) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(node.root / "pki" / "ca.crt"))
    return http.client.HTTPSConnection("127.0.0.1", node.port, context=context, timeout=30)


def send(node: Node, method: str, path: str, body: bytes = b"",
         ctype: str = "application/json") -> tuple[int, bytes]:
    token = (node.root / "pki" / "token").read_text().strip()
    conn = _connection(node)
    try:
        conn.request(method, path, body=body or None, headers={
            "Authorization": f"Bearer {token}", "Content-Type": ctype})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (ConnectionError, http.client.HTTPException) as e:  # the server hung up early
        return 0, str(e).encode()
    finally:
        conn.close()


def test_limits_in_the_api_servers_words(node: Node, ns: str) -> None:
    cms = f"/api/v1/namespaces/{ns}/configmaps"
    code, body = send(node, "POST", cms, b'{"data":{"k":"' + b"x" * (3 << 20) + b'"}}')
    if code:  # the 413 arrives before the body is all sent, or the send fails first
        assert code == 413
        assert json.loads(body)["message"] == "Request entity too large: limit is 3145728"
    deep = b'{"metadata":{"name":"d"},"data":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001
    code, body = send(node, "POST", cms, deep)
    assert code == 400
    assert json.loads(body)["message"].endswith("invalid character '{' exceeded max depth")
    for ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        code, body = send(node, "PATCH", f"{cms}/none", b'{"data":' + b'{"a":' * 500 + b"1"
                          + b"}" * 501, ctype)
        assert code == 404, body
    send(node, "POST", cms, b'{"metadata":{"name":"c"}}')
    code, body = send(node, "PATCH", f"{cms}/c", b'[{"op":"add","path":"/data","value":'
                      + b"[" * 9_990 + b"]" * 9_990 + b"}]", "application/json-patch+json")
    assert 400 <= code < 500, body


PATHS = st.sampled_from([
    "/api/v1/namespaces/hostile/pods", "/api/v1/namespaces/hostile/pods/traps",
    "/api/v1/namespaces/hostile/configmaps", "/api/v1/namespaces/hostile/configmaps/c",
    "/api/v1/namespaces/hostile/pods/traps/status", "/api/v1/namespaces/hostile/services",
    "/apis/apps/v1/namespaces/hostile/deployments", "/apis/batch/v1/namespaces/hostile/jobs",
    "/api/v1/namespaces", "/api/v1/namespaces/hostile", "/api/v1/nodes",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/hostile/roles",
    "/api/v1/namespaces/hostile/pods/traps/ephemeralcontainers",
    "/api/v1/namespaces/hostile/serviceaccounts/default/token", "/api/v1/namespaces/%00/pods",
    "/apis/apps/v1/namespaces/hostile/deployments/x/scale"])
QUERIES = st.sampled_from(["", "?dryRun=All", "?fieldValidation=Strict", "?fieldManager=f",
                           "?labelSelector=a%3D%3D", "?limit=-1", "?fieldSelector=x",
                           "?fieldManager=f&force=true", "?gracePeriodSeconds=abc"])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(["metadata", "name", "spec", "containers", "kind",
                                         "apiVersion", "op", "path", "value", "data", "image",
                                         "replicas", "template", "labels", "$patch"]), c,
                        max_size=5), max_leaves=20)
BODIES = st.one_of(st.binary(max_size=64), JSON.map(lambda v: json.dumps(v).encode()),
                   st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
                   st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n))
CTYPES = st.sampled_from(["application/json", "application/yaml",
                          "application/merge-patch+json", "application/json-patch+json",
                          "application/strategic-merge-patch+json",
                          "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf",
                          "text/plain", ""])


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), path=PATHS,
       query=QUERIES, body=BODIES, ctype=CTYPES)
def test_random_requests_never_get_a_server_error(node: Node, ns: str, method: str, path: str,
                                                  query: str, body: bytes, ctype: str) -> None:
    code, answer = send(node, method, path + query, body, ctype)
    assert code < 500, (method, path + query, ctype, body[:200], answer[:500])
