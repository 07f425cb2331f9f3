"""NetworkPolicy across `kill -9` of the node: the rules keep enforcing while it is down and
after it starts again (rebuilt from the store), a deleted policy's rules go at once, and a node
that stops with no Pods left removes its policy table."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from podhost.network.policytable import table_name
from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e

SERVE = ("mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www")


def pod(name: str, command: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
                                                            "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", command]}]}}


def reachable(node: Node, ip: str, tries: int = 1) -> bool:
    """The client reaches the server (`tries`: attempts, for a loaded machine's timeouts when
    the answer should be yes)."""
    for _ in range(tries):
        done = node.kubectl("exec", "client", "--", "timeout", "3", "wget", "-qO",
                            "/dev/null", f"http://{ip}/", check=False)
        if done.returncode == 0:
            return True
    return False


def nft_table(root: Path) -> str:
    return subprocess.run(["nft", "list", "table", "ip", table_name(str(root.resolve()))],
                          capture_output=True, text=True).stdout


def test_policies_survive_kill_9_and_go_with_the_node(tmp_path: Path) -> None:
    root = tmp_path / "root"
    node = start_node(root)
    try:
        node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
        node.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                           "items": [
            pod("server", SERVE), pod("client", "trap 'exit 0' TERM; sleep 3600 & wait")]}))
        node.kubectl("wait", "--for=condition=Ready", "pod/server", "pod/client",
                     "--timeout=60s", timeout=70)
        ip = node.kubectl("get", "pod", "server", "-o", "jsonpath={.status.podIP}").stdout
        assert reachable(node, ip, tries=3)
        node.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny"},
            "spec": {"podSelector": {"matchLabels": {"app": "server"}}}}))
        time.sleep(0.3)
        assert not reachable(node, ip)
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()
        assert f"{ip}" in nft_table(root)  # still enforced while the node is down
        node = start_node(root)
        node.kubectl("wait", "--for=condition=Ready", "pod/server", "pod/client",
                     "--timeout=60s", timeout=70)
        assert not reachable(node, ip)
        node.kubectl("delete", "networkpolicy", "deny")
        time.sleep(0.3)
        assert reachable(node, ip, tries=3)
        node.kubectl("delete", "pods", "--all", "--wait=true")
    finally:
        stop_node(node)
    assert nft_table(root) == ""  # stopped with no Pods left: the table went
