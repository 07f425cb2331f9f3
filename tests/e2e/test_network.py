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
from podhost.network.bridge import STATE_DIR, node_ip
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
    assert client_pod["status"]["hostIP"] == node_ip()
    nodes = json.loads(node.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert nodes[0]["status"]["addresses"][0] == {"type": "InternalIP", "address": node_ip()}
    assert nodes[0]["spec"]["podCIDR"] == "10.244.0.0/16"
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


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout
    return [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])
            if link.get("ifname") not in ("lo",) and not link["ifname"].startswith("podhost")]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def test_host_ports_map_node_ports_to_the_pod(node: Node) -> None:
    first, second, other = unique("hp"), unique("hp"), unique("hp-client")
    port = 30000 + int(uuid.uuid4().hex[:4], 16) % 2000
    html = [{"name": "html", "mountPath": "/usr/share/nginx/html"}]
    web = [{"name": "nginx", "image": "nginx", "volumeMounts": html,
            "ports": [{"containerPort": 80, "hostPort": port}]},
           {"name": "writer", "image": "busybox", "volumeMounts": html, "command": [
               "sh", "-c", "echo served by $HOSTNAME > /usr/share/nginx/html/index.html; "
               "trap 'exit 0' TERM; sleep 3600 & wait"]}]
    run_pod(node, first, web, volumes=[{"name": "html", "emptyDir": {}}])
    client = run_pod(node, other, [dict(sleeper(), env=[
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}])])
    # from the node itself (loopback and its own address), and from a Pod through the
    # node's address from the downward API (the DaemonSet pattern)
    host_ip = client["status"]["hostIP"]
    assert host_ip == node_ip() and host_ip in host_addresses()
    for host in ("127.0.0.1", host_ip):
        assert fetch(f"http://{host}:{port}/") == f"served by {first}\n"
    via_node = node.kubectl("exec", other, "--", "sh", "-c",
                            f"wget -qO- http://$HOST_IP:{port}/")
    assert via_node.stdout == f"served by {first}\n"
    # a second Pod asking for the same host port waits, as the scheduler leaves it Pending
    second_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": second},
                  "spec": {"terminationGracePeriodSeconds": 1,
                           "volumes": [{"name": "html", "emptyDir": {}}],
                           "containers": [dict(c, imagePullPolicy="IfNotPresent") for c in web]}}
    node.kubectl("apply", "-f", "-", input=json.dumps(second_pod))
    deadline = time.monotonic() + 20
    while True:
        pod = json.loads(node.kubectl("get", "pod", second, "-o", "json").stdout)
        conds = {c["type"]: c for c in pod["status"].get("conditions", [])}
        if conds.get("PodScheduled", {}).get("reason") == "Unschedulable":
            break
        assert time.monotonic() < deadline, pod["status"]
        time.sleep(0.3)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    assert "didn't have free ports for the requested pod ports" in \
        conds["PodScheduled"]["message"]
    events = node.kubectl("get", "events", "--field-selector",
                          f"involvedObject.name={second},reason=FailedScheduling").stdout
    assert "didn't have free ports" in events
    # once the first Pod is gone, the second is scheduled and takes the port over
    node.kubectl("delete", "pod", first, "--wait=true")
    node.wait_ready(second, 60)
    for _ in range(50):
        try:
            if fetch(f"http://127.0.0.1:{port}/") == f"served by {second}\n":
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert fetch(f"http://127.0.0.1:{port}/") == f"served by {second}\n"
    node.kubectl("delete", "pod", second, other, "--wait=true")
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{port}/")
