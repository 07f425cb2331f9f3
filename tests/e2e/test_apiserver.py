"""The API server with real kubectl and the Python client: nodes, namespaces, configmaps,
watch, paging, exec, port-forward, and refusal of anonymous requests."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from podhost.network.bridge import node_ip
from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

KUBECTL_129 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.29"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def busybox_pod(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo hello-log; echo file-content > /tmp/f; sleep 3600"]
"""


def nginx_pod(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: web
    image: nginx
    imagePullPolicy: IfNotPresent
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_get_and_describe_node(node: Node) -> None:
    out = node.kubectl("get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert out[1].split()[1:3] == ["Ready", "<none>"] and out[1].split()[4] == "v1.32.0"
    wide = node.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:] == ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                                   "CONTAINER-RUNTIME"]
    address = node_ip()  # the address of the default route, as kubelet picks it
    assert wide[1].split()[5] == address and "runc://" in wide[1]
    described = node.kubectl("describe", "node").stdout
    assert "Kubelet Version:            v1.32.0" in described
    assert "Ready            True" in described
    assert f"InternalIP:  {address}" in described
    assert "PodCIDR:                      10.244.0.0/16" in described


def test_namespaces_configmaps_and_cascade(node: Node) -> None:
    out = node.kubectl("get", "ns").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "AGE"]
    assert {line.split()[0] for line in out[1:]} >= {"default", "kube-system", "kube-public",
                                                     "kube-node-lease"}
    ns = unique("ns")
    node.kubectl("create", "namespace", ns)
    assert node.kubectl("get", "sa", "-n", ns).stdout.split()[:4] == [
        "NAME", "SECRETS", "AGE", "default"]
    assert node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=a=1",
                        "--from-literal=b=2").stdout.strip() == "configmap/cfg created"
    lines = node.kubectl("get", "cm", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"] and lines[1].split()[:2] == ["cfg", "2"]
    # kube-controller-manager's root-ca-cert-publisher: in every namespace, back when deleted
    assert lines[2].split()[:2] == ["kube-root-ca.crt", "1"]
    ca = node.kubectl("get", "cm", "kube-root-ca.crt", "-n", ns, "-o",
                      "jsonpath={.data.ca\\.crt}").stdout
    assert ca == (node.root / "pki" / "ca.crt").read_text()
    node.kubectl("delete", "cm", "kube-root-ca.crt", "-n", ns)
    assert node.kubectl("get", "cm", "kube-root-ca.crt", "-n", ns, "-o", "name").stdout \
        == "configmap/kube-root-ca.crt\n"
    node.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=k=v")
    assert node.kubectl("get", "secret", "sec", "-n", ns, "-o",
                        "jsonpath={.data.k}").stdout == "dg=="
    node.kubectl("apply", "-n", ns, "-f", "-", input=busybox_pod("p"))
    result = node.kubectl("delete", "ns", ns, "--timeout=60s", timeout=90)
    assert result.stdout.strip() == f'namespace "{ns}" deleted'
    gone = node.kubectl("get", "ns", ns, check=False)
    assert gone.returncode == 1
    assert gone.stderr.strip() == f'Error from server (NotFound): namespaces "{ns}" not found'
    denied = node.kubectl("delete", "ns", "default", check=False)
    assert denied.stderr.strip() == ('Error from server (Forbidden): namespaces "default" is '
                                     "forbidden: this namespace may not be deleted")


def test_paging_with_chunk_size(node: Node) -> None:
    names = [unique("page") for _ in range(3)]
    for n in names:
        node.kubectl("create", "configmap", n)
    try:
        out = node.kubectl("get", "cm", "--chunk-size=1", "-v=6").stderr
        assert out.count("limit=1") >= 3 and "continue=" in out
        listed = node.kubectl("get", "cm", "--chunk-size=1", "-o", "name").stdout.split()
        assert {f"configmap/{n}" for n in names} <= set(listed)
    finally:
        node.kubectl("delete", "configmap", *names)


def test_get_pods_watch_receives_events(node: Node) -> None:
    name = unique("watched")
    watcher = subprocess.Popen(["kubectl", "get", "pods", "-w", "--request-timeout=0"],
                               env=node.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(1)
        node.kubectl("apply", "-f", "-", input=busybox_pod(name))
        node.wait_ready(name)
        node.kubectl("delete", "pod", name, "--grace-period=0", "--force")
        time.sleep(1)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    rows = [line.split() for line in out.splitlines() if line.startswith(name)]
    statuses = [r[2] for r in rows]
    assert "Running" in statuses and len(rows) >= 3


def test_python_client_lifecycle(node: Node) -> None:
    from kubernetes import client, config, watch
    from kubernetes.stream import stream

    api_client = config.new_client_from_config(str(node.kubeconfig))
    v1 = client.CoreV1Api(api_client)
    name = unique("pyclient")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"t": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "main", "image": "busybox",
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "echo from-python; sleep 3600"]}]}}
    v1.create_namespaced_pod("default", body)
    try:
        seen = []
        for event in watch.Watch().stream(v1.list_namespaced_pod, "default",
                                          label_selector=f"t={name}", timeout_seconds=60):
            seen.append(event["type"])
            if event["object"].status.phase == "Running":
                break
        assert seen[0] == "ADDED"
        assert name in [p.metadata.name for p in v1.list_namespaced_pod("default").items]
        for _ in range(50):
            if "from-python" in v1.read_namespaced_pod_log(name, "default"):
                break
            time.sleep(0.1)
        assert v1.read_namespaced_pod_log(name, "default") == "from-python\n"
        resp = stream(v1.connect_get_namespaced_pod_exec, name, "default",
                      command=["sh", "-c", "echo out; exit 3"], stderr=True, stdin=False,
                      stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=20)
        assert resp.returncode == 3
    finally:
        v1.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def test_requests_without_credentials_refused(node: Node) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    base = f"https://127.0.0.1:{node.port}"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/api/v1/namespaces/default/pods", context=ctx)
    assert e.value.code == 401
    status = json.loads(e.value.read())
    assert status["reason"] == "Unauthorized" and status["kind"] == "Status"
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        with urllib.request.urlopen(base + path, context=ctx) as r:
            assert r.status == 200


def test_kubectl_129_exec_over_spdy(node: Node) -> None:
    name = unique("spdy")
    node.kubectl("apply", "-f", "-", input=busybox_pod(name))
    try:
        node.wait_ready(name)
        base = [KUBECTL_129, "--kubeconfig", str(node.kubeconfig), "exec"]

        def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*base, *args], input=input, capture_output=True, text=True,
                                  timeout=30)

        for _ in range(50):
            result = run(name, "--", "cat", "/tmp/f")
            if result.returncode == 0:
                break
            time.sleep(0.1)
        assert (result.returncode, result.stdout) == (0, "file-content\n")
        result = run("-i", name, "--", "sh", "-c", "tr a-z A-Z", input="piped\n")
        assert (result.returncode, result.stdout) == (0, "PIPED\n")
        result = run(name, "--", "sh", "-c", "echo oops >&2; exit 7")
        assert result.returncode == 7
        assert result.stderr == "oops\ncommand terminated with exit code 7\n"
        result = run(name, "-c", "nope", "--", "true")
        assert result.returncode == 1
        assert result.stderr.strip() == (f"Error from server (BadRequest): container nope is "
                                          f"not valid for pod {name}")
    finally:
        node.kubectl("delete", "pod", name, "--grace-period=0", "--force", check=False)


@pytest.mark.parametrize("kubectl", ["kubectl", KUBECTL_129])
def test_port_forward_to_nginx(node: Node, kubectl: str) -> None:
    name = unique("pf")
    node.kubectl("apply", "-f", "-", input=nginx_pod(name))
    port = free_port()
    forward = None
    try:
        node.wait_ready(name)
        forward = subprocess.Popen([kubectl, "--kubeconfig", str(node.kubeconfig),
                                    "port-forward", f"pod/{name}", f"{port}:80"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2):
            try:
                status, body = http_get(f"http://127.0.0.1:{port}/")
            except OSError as e:
                forward.terminate()
                out, err = forward.communicate(timeout=10)
                raise AssertionError(
                    f"no answer through port-forward: {e}\n{out}\n{err}") from e
            assert status == 200 and b"nginx" in body
    finally:
        if forward is not None and forward.poll() is None:
            forward.terminate()
            forward.communicate(timeout=10)
        node.kubectl("delete", "pod", name, "--grace-period=0", "--force", check=False)
