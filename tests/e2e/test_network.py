"""The Pod network with real kubectl: every Pod has its own address on the node's bridge,
reachable from the host and from other Pods; the address is in the status, /etc/hosts and
the downward API, and it is given back with the Pod."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from podhost.network import host_ifname
from podhost.network.bridge import STATE_DIR
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def run_pod(node: Node, name: str, containers: list[dict[str, Any]],
            volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    for c in containers:
        c.setdefault("imagePullPolicy", "IfNotPresent")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"terminationGracePeriodSeconds": 1, "containers": containers,
                    "volumes": volumes or []}}
    node.kubectl("apply", "-f", "-", input=json.dumps(pod))
    node.wait_ready(name, 60)
    return dict(json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout))


def sleeper(name: str = "app") -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", "trap 'exit 0' TERM; "
                                                         "sleep 3600 & wait"],
            "env": [{"name": "MY_POD_IP",
                     "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}


def reservations() -> dict[str, str]:
    out = {}
    for net in STATE_DIR.glob("*"):
        for entry in net.iterdir():
            if entry.name[0].isdigit():
                out[entry.name] = entry.read_text().split("\n")[0]
    return out


def test_pods_get_addresses_reachable_from_the_host_and_each_other(node: Node) -> None:
    web, client = unique("web"), unique("client")
    html = [{"name": "html", "mountPath": "/usr/share/nginx/html"}]
    web_pod = run_pod(node, web, [
        {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
         "volumeMounts": html},
        {"name": "writer", "image": "busybox", "volumeMounts": html, "command": [
            "sh", "-c", "echo hello from $HOSTNAME > /usr/share/nginx/html/index.html; "
            "sleep 3600"]}], volumes=[{"name": "html", "emptyDir": {}}])
    assert web_pod["status"]["podIP"]
    client_pod = run_pod(node, client, [sleeper()])
    web_ip, client_ip = web_pod["status"]["podIP"], client_pod["status"]["podIP"]
    assert web_ip != client_ip
    for ip in (web_ip, client_ip):
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.244.0.0/16")
    assert client_pod["status"]["podIPs"] == [{"ip": client_ip}]
    wide = node.kubectl("get", "pod", client, "-o", "wide").stdout
    assert client_ip in wide.splitlines()[1]
    # the downward API and /etc/hosts agree with the status
    assert node.kubectl("exec", client, "--", "sh", "-c", "echo $MY_POD_IP").stdout.strip() \
        == client_ip
    hosts = node.kubectl("exec", client, "--", "cat", "/etc/hosts").stdout
    assert f"{client_ip}\t{client}\n" in hosts
    addr = node.kubectl("exec", client, "--", "ip", "-4", "addr", "show", "eth0").stdout
    assert f"inet {client_ip}/16" in addr
    # Pod to Pod, host to Pod
    for _ in range(50):
        got = node.kubectl("exec", client, "--", "wget", "-qO-",  # (-T: busybox segfaults)
                           f"http://{web_ip}/", check=False)
        if got.returncode == 0 and got.stdout.startswith("hello from"):
            break
        time.sleep(0.2)
    assert got.stdout == f"hello from {web}\n"
    with urllib.request.urlopen(f"http://{web_ip}/", timeout=5) as r:
        assert r.read() == f"hello from {web}\n".encode()
    # the Pod's address is held while it runs and given back with it
    uid = client_pod["metadata"]["uid"]
    assert reservations()[client_ip] == uid
    assert Path(f"/sys/class/net/{host_ifname(uid)}").exists()
    node.kubectl("delete", "pod", client, web, "--wait=true")
    assert client_ip not in reservations() and web_ip not in reservations()
    deadline = time.monotonic() + 5
    while Path(f"/sys/class/net/{host_ifname(uid)}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the kernel removes a veth with its namespace, asynchronously
    assert not Path(f"/sys/class/net/{host_ifname(uid)}").exists()


def test_a_bad_pod_cidr_stops_the_node_with_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([str(Path(".venv/bin/podhost").resolve()), "serve", "--root",
                           str(tmp_path / "root"), "--port", "1", "--no-kubeconfig-update",
                           "--pod-cidr", "10.244.0.1/16"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "error: invalid Pod CIDR '10.244.0.1/16': 10.244.0.1/16 has host bits set")


def test_loopback_only_pods_with_pod_cidr_none(tmp_path: Path) -> None:
    from tests.conftest import TEST_IMAGES
    node = start_node(tmp_path / "root", ["--pod-cidr", "none"])
    try:
        node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
        pod = run_pod(node, "lo-only", [sleeper()])
        assert pod["status"]["podIP"] == "127.0.0.1"
        links = node.kubectl("exec", "lo-only", "--", "ip", "-o", "link").stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
        node.kubectl("delete", "pod", "lo-only", "--wait=true")
    finally:
        stop_node(node)
