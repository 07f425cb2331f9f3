"""Persistent storage with real kubectl (issue 21): the default StorageClass, claims that wait
for their first consumer, data that outlives Pods and a kill -9 of the node, hard capacity,
online growth, shrink refused, ReadWriteOncePod, pvc-protection, Delete and Retain, generic
ephemeral volumes. One node of its own (it is killed), its btrfs pool unmounted at the end."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e


class Holder:
    """The node of this module (a new Node after each restart)."""

    def __init__(self, node: Node, args: list[str]) -> None:
        self.node, self.args = node, args

    def crash_and_restart(self) -> None:
        self.node.process.send_signal(signal.SIGKILL)
        self.node.process.wait()
        self.node = start_node(self.node.root, self.args)


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Holder]:
    root = tmp_path_factory.mktemp("storage") / "root"
    args = ["--registries-conf", str(registries_conf), "--pod-cidr", "none"]
    h = Holder(start_node(root, args), args)
    h.node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
    try:
        yield h
    finally:
        env = h.node.env()
        for what in ("pods", "pvc", "pv"):
            subprocess.run(["kubectl", "delete", what, "--all", "-A", "--wait=true",
                            "--timeout=60s"], env=env, capture_output=True, timeout=90)
        stop_node(h.node)
        pool = root / "storage" / "local-path"
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", str(pool)], check=True, capture_output=True)
        (root / "storage" / "pool.img").unlink(missing_ok=True)


def apply(node: Node, *objs: dict[str, Any]) -> None:
    node.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def claim(name: str, size: str = "8Mi", modes: tuple[str, ...] = ("ReadWriteOnce",),
          cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": list(modes),
                            "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


def pod(name: str, command: str, claim_name: str = "", volume: dict[str, Any] | None = None,
        restart: str = "Always") -> dict[str, Any]:
    vol = volume or {"name": "d", "persistentVolumeClaim": {"claimName": claim_name}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 0, "restartPolicy": restart, "volumes": [vol],
        "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", command],
                        "volumeMounts": [{"name": vol["name"], "mountPath": "/data"}]}]}}


def get(node: Node, *what: str) -> Any:
    return json.loads(node.kubectl("get", *what, "-o", "json").stdout)


def wait_for(check: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def gone(node: Node, *what: str) -> bool:
    return node.kubectl("get", *what, check=False).returncode != 0


def delete_pods(node: Node, *names: str) -> None:
    node.kubectl("delete", "pod", *names, "--wait=true", "--timeout=60s")


def test_default_class(holder: Holder) -> None:
    out = holder.node.kubectl("get", "sc").stdout
    assert "standard (default)   podhost.io/local-path   Delete          WaitForFirstConsumer" \
        "   true" in out, out
    assert "local-path " in out


def test_data_outlives_pods_and_a_kill_of_the_node(holder: Holder) -> None:
    node = holder.node
    apply(node, claim("data"))
    node.kubectl("wait", "--for=jsonpath={.status.phase}=Pending", "pvc/data")
    events = wait_for(lambda: "waiting for first consumer to be created before binding" in
                      node.kubectl("describe", "pvc", "data").stdout, what="WFFC event")
    assert events
    apply(node, pod("writer", "echo kept > /data/f; sleep 3600", "data"))
    node.wait_ready("writer")
    assert get(node, "pvc", "data")["status"]["phase"] == "Bound"
    pv = get(node, "pvc", "data")["spec"]["volumeName"]
    assert get(node, "pv", pv)["spec"]["local"]["path"].endswith("_default_data")
    holder.crash_and_restart()
    node = holder.node
    assert node.kubectl("exec", "writer", "--", "cat", "/data/f").stdout == "kept\n"
    delete_pods(node, "writer")
    apply(node, pod("reader", "cat /data/f; sleep 3600", "data"))
    node.wait_ready("reader")
    wait_for(lambda: node.kubectl("logs", "reader").stdout == "kept\n", what="reader's log")
    delete_pods(node, "reader")
    node.kubectl("delete", "pvc", "data", "--wait=true", "--timeout=30s")
    wait_for(lambda: gone(node, "pv", pv), what="the PV deleted")
    assert not list((node.root / "storage" / "local-path").glob("*_default_data"))


def test_capacity_growth_and_shrink(holder: Holder) -> None:
    node = holder.node
    apply(node, claim("sized"), pod("filler", "sleep 3600", "sized"))
    node.wait_ready("filler")
    out = node.kubectl("exec", "filler", "--", "dd", "if=/dev/zero", "of=/data/a", "bs=1M",
                       "count=20", check=False)
    assert out.returncode != 0 and "Disk quota exceeded" in out.stderr, out.stderr
    node.kubectl("exec", "filler", "--", "rm", "/data/a")
    node.kubectl("patch", "pvc", "sized", "-p",
                 '{"spec":{"resources":{"requests":{"storage":"32Mi"}}}}')
    wait_for(lambda: get(node, "pvc", "sized")["status"]["capacity"]["storage"] == "32Mi",
             what="capacity 32Mi")
    node.kubectl("exec", "filler", "--", "dd", "if=/dev/zero", "of=/data/b", "bs=1M",
                 "count=20")
    node_name = node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    # the kubelet's endpoint (the API server's /metrics no longer repeats them)
    metrics = node.kubectl("get", "--raw", f"/api/v1/nodes/{node_name}/proxy/metrics").stdout
    capacity = re.search(r'kubelet_volume_stats_capacity_bytes\{namespace="default",'
                         r'persistentvolumeclaim="sized"\} (\S+)', metrics)
    assert capacity and float(capacity.group(1)) == 33554432
    used = re.search(r'kubelet_volume_stats_used_bytes\{namespace="default",'
                     r'persistentvolumeclaim="sized"\} (\S+)', metrics)
    assert used and float(used.group(1)) >= 20 << 20
    shrink = node.kubectl("patch", "pvc", "sized", "-p",
                          '{"spec":{"resources":{"requests":{"storage":"16Mi"}}}}', check=False)
    assert shrink.returncode != 0
    assert "spec.resources.requests.storage: Forbidden: field can not be less than previous " \
        "value" in shrink.stderr
    delete_pods(node, "filler")
    node.kubectl("delete", "pvc", "sized")


def test_read_write_once_pod_and_protection(holder: Holder) -> None:
    node = holder.node
    apply(node, claim("solo", modes=("ReadWriteOncePod",)), pod("first", "sleep 3600", "solo"))
    node.wait_ready("first")
    apply(node, pod("second", "sleep 3600", "solo"))

    def second_unschedulable() -> Any:
        conds = get(node, "pod", "second")["status"].get("conditions") or []
        return [c for c in conds if c["type"] == "PodScheduled" and c["status"] == "False"]
    cond = wait_for(second_unschedulable, what="second unschedulable")[0]
    assert "1 node has pod using PersistentVolumeClaim with the same name and " \
        "ReadWriteOncePod access mode" in cond["message"]
    node.kubectl("delete", "pvc", "solo", "--wait=false")
    time.sleep(0.5)
    assert "Terminating" in node.kubectl("get", "pvc", "solo").stdout
    delete_pods(node, "first", "second")
    wait_for(lambda: gone(node, "pvc", "solo"), what="the claim gone with its Pods")


def test_retain_leaves_the_volume_released(holder: Holder) -> None:
    node = holder.node
    apply(node, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": "keep"}, "provisioner": "podhost.io/local-path",
                 "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"},
          claim("kept", cls="keep"))
    node.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/kept")
    pv = get(node, "pvc", "kept")["spec"]["volumeName"]
    node.kubectl("delete", "pvc", "kept")
    wait_for(lambda: get(node, "pv", pv)["status"]["phase"] == "Released", what="Released")
    assert list((node.root / "storage" / "local-path").glob("*_default_kept"))
    node.kubectl("delete", "pv", pv)
    node.kubectl("delete", "sc", "keep")


def test_generic_ephemeral_volume(holder: Holder) -> None:
    node = holder.node
    volume = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "4Mi"}}}}}}
    apply(node, pod("eph", "echo x > /data/x; sleep 3600", volume=volume))
    node.wait_ready("eph")
    pvc = get(node, "pvc", "eph-scratch")
    assert pvc["metadata"]["ownerReferences"][0]["name"] == "eph"
    assert pvc["spec"]["storageClassName"] == "standard"
    delete_pods(node, "eph")
    wait_for(lambda: gone(node, "pvc", "eph-scratch"), what="the ephemeral claim deleted")


def test_missing_claim_waits_and_bad_claims(holder: Holder) -> None:
    node = holder.node
    apply(node, pod("patient", "sleep 3600", "later"))

    def unschedulable() -> Any:
        conds = get(node, "pod", "patient")["status"].get("conditions") or []
        return [c["message"] for c in conds if c.get("reason") == "Unschedulable"]
    message = wait_for(unschedulable, what="Unschedulable")[0]
    assert 'persistentvolumeclaim "later" not found' in message
    apply(node, claim("later", cls="local-path"))
    node.wait_ready("patient")
    bad = node.kubectl("apply", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "bad"},
         "spec": {"resources": {"requests": {"storage": "1Mi"}}}}))
    assert "spec.accessModes: Required value: at least 1 access mode is required" in bad.stderr
    apply(node, claim("nowhere", cls="missing"))
    wait_for(lambda: 'storageclass.storage.k8s.io "missing" not found' in
             node.kubectl("describe", "pvc", "nowhere").stdout, what="ProvisioningFailed")
    delete_pods(node, "patient")
    node.kubectl("delete", "pvc", "later", "nowhere")


def test_the_example(holder: Holder) -> None:
    node = holder.node
    example = str(Path(__file__).parents[2] / "examples" / "persistent-data.yaml")
    for visit in (1, 2):
        node.kubectl("apply", "-f", example)
        node.wait_ready("persistent-data")
        wait_for(lambda visit=visit: node.kubectl("logs", "persistent-data").stdout.count(
            "visit at") == visit, what=f"{visit} visits")
        delete_pods(node, "persistent-data")
    node.kubectl("delete", "pvc", "visits")


def test_static_read_only_many_volume(holder: Holder, tmp_path: Path) -> None:
    node = holder.node
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "motd").write_text("static\n")
    apply(node, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "ro"},
                 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"],
                          "hostPath": {"path": str(tmp_path / "shared")}}},
          claim("ro", modes=("ReadOnlyMany",), cls=""),
          pod("viewer", "sleep 3600", "ro"))
    node.wait_ready("viewer")
    assert node.kubectl("exec", "viewer", "--", "cat", "/data/motd").stdout == "static\n"
    denied = node.kubectl("exec", "viewer", "--", "touch", "/data/x", check=False)
    assert "Read-only file system" in denied.stderr
    delete_pods(node, "viewer")
    node.kubectl("delete", "pvc", "ro")
    wait_for(lambda: get(node, "pv", "ro")["status"]["phase"] == "Released", what="Released")
    node.kubectl("delete", "pv", "ro")
    assert (tmp_path / "shared" / "motd").exists()  # a hostPath PV's data is never touched
