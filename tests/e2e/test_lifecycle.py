"""The Pod lifecycle with real kubectl: init containers, sidecars, back-off, hooks, probes,
`logs --previous` and activeDeadlineSeconds (issue 6)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def apply(node: Node, pod: dict[str, Any]) -> str:
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    pod["spec"].setdefault("terminationGracePeriodSeconds", 1)
    for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
        c.setdefault("imagePullPolicy", "IfNotPresent")  # the test images are loaded, not pulled
    node.kubectl("apply", "-f", "-", input=json.dumps(pod))
    return str(pod["metadata"]["name"])


def delete(node: Node, name: str) -> None:
    """Force-delete, then wait until the node has cleaned up after the Pod (no leftovers
    when the session's node stops right after)."""
    uid = node.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}",
                       check=False).stdout.strip()
    node.kubectl("delete", "pod", name, "--grace-period=0", "--force", "--wait=true",
                 check=False)
    if uid:
        wait_for(lambda: not (node.root / "pods" / uid).exists(), 20, f"cleanup of {name}")


def get(node: Node, name: str) -> dict[str, Any]:
    return dict(json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout))


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def row(node: Node, name: str) -> str:
    return node.kubectl("get", "pod", name, "--no-headers").stdout.strip()


def events(node: Node, name: str) -> str:
    return node.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}",
                        "-o", "custom-columns=R:.reason,M:.message", "--no-headers",
                        check=False).stdout


@pytest.fixture(scope="module")
def image(node: Node) -> str:
    return "busybox"


def test_init_renders_config_and_sidecar_tails_log(node: Node, image: str) -> None:
    name = unique("init-sidecar")
    apply(node, {"metadata": {"name": name}, "spec": {
        "volumes": [{"name": "work", "emptyDir": {}}],
        "initContainers": [
            {"name": "render", "image": image,
             "command": ["sh", "-c", "echo greeting=hello > /work/app.conf"],
             "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
            {"name": "tail", "image": image, "restartPolicy": "Always",
             "command": ["sh", "-c", "touch /work/app.log; tail -f /work/app.log"],
             "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        "containers": [
            {"name": "app", "image": image,
             "command": ["sh", "-c", ". /work/app.conf; echo \"app says $greeting\" "
                         ">> /work/app.log; sleep 3600"],
             "volumeMounts": [{"name": "work", "mountPath": "/work"}]}]}})
    try:
        node.wait_ready(name, timeout=30)
        assert re.match(rf"^{name}\s+2/2\s+Running\s+0\s", row(node, name)), row(node, name)
        logs = wait_for(lambda: "app says hello" in node.kubectl(
            "logs", name, "-c", "tail").stdout, 10, "sidecar log")
        assert logs
        status = get(node, name)["status"]
        init = {s["name"]: s for s in status["initContainerStatuses"]}
        assert init["render"]["state"]["terminated"]["reason"] == "Completed"
        assert "running" in init["tail"]["state"] and init["tail"]["ready"] is True
    finally:
        delete(node, name)


def test_sidecar_does_not_block_success(node: Node, image: str) -> None:
    name = unique("sidecar-done")
    apply(node, {"metadata": {"name": name}, "spec": {
        "restartPolicy": "Never",
        "initContainers": [{"name": "side", "image": image, "restartPolicy": "Always",
                            "command": ["sleep", "3600"]}],
        "containers": [{"name": "job", "image": image, "command": ["true"]}]}})
    try:
        wait_for(lambda: get(node, name)["status"]["phase"] == "Succeeded", 30, "Succeeded")
        assert re.match(rf"^{name}\s+0/2\s+Completed\s", row(node, name)), row(node, name)
    finally:
        delete(node, name)


def test_crashing_writer_backs_off_and_keeps_data(node: Node, image: str) -> None:
    name = unique("crasher")
    apply(node, {"metadata": {"name": name}, "spec": {
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [{"name": "writer", "image": image,
                        "command": ["sh", "-c", "echo run >> /data/runs; echo attempt "
                                    "$(wc -l < /data/runs); exit 3"],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})
    try:
        wait_for(lambda: "CrashLoopBackOff" in row(node, name), 30, "CrashLoopBackOff")
        status = wait_for(lambda: (s := get(node, name)["status"]["containerStatuses"][0])
                          ["restartCount"] >= 1 and s, 30, "a restart")
        assert status["lastState"]["terminated"]["exitCode"] == 3
        assert status["lastState"]["terminated"]["reason"] == "Error"
        assert "Back-off restarting failed container writer" in events(node, name)
        # every attempt appended to the same emptyDir: the data survived the restarts
        previous = node.kubectl("logs", name, "--previous").stdout.strip()
        assert re.fullmatch(r"attempt \d+", previous), previous
        count = int(previous.split()[1])
        assert count >= 1
    finally:
        delete(node, name)


def test_prestop_hook_flushes_before_sigterm(node: Node, image: str) -> None:
    name = unique("prestop")
    apply(node, {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 15,
        "volumes": [{"name": "shared", "emptyDir": {}}],
        "containers": [
            {"name": "app", "image": image,
             "command": ["sh", "-c", "trap 'echo sigterm >> /shared/order; exit 0' TERM; "
                         "while true; do sleep 0.1; done"],
             "lifecycle": {"preStop": {"exec": {"command": [
                 "sh", "-c", "echo flushed >> /shared/order"]}}},
             "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]},
            {"name": "watcher", "image": image,
             # stays a while after its TERM, so that an exec on a loaded machine finds it
             "command": ["sh", "-c", "trap 'sleep 8; cat /shared/order; exit 0' TERM; "
                         "while true; do sleep 0.1; done"],
             "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}]}})
    try:
        node.wait_ready(name, timeout=30)
        node.kubectl("delete", "pod", name, "--wait=false")
        # the watcher prints the file when it is stopped; read its log before the Pod goes
        def order() -> str:
            out = node.kubectl("exec", name, "-c", "watcher", "--", "cat", "/shared/order",
                               check=False)
            return out.stdout if "sigterm" in out.stdout else ""
        text = wait_for(order, 15, "preStop then SIGTERM")
        assert text.split() == ["flushed", "sigterm"]
        node.kubectl("wait", "--for=delete", f"pod/{name}", "--timeout=40s", timeout=50)
    finally:
        delete(node, name)


def test_readiness_probe_flips_ready(node: Node, image: str) -> None:
    name = unique("ready")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [{
        "name": "app", "image": image, "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                           "periodSeconds": 1, "failureThreshold": 1}}]}})
    try:
        wait_for(lambda: get(node, name)["status"]["phase"] == "Running", 30, "Running")
        assert re.match(rf"^{name}\s+0/1\s+Running\s", row(node, name)), row(node, name)
        cond = {c["type"]: c for c in get(node, name)["status"]["conditions"]}
        assert cond["Ready"]["status"] == "False"
        assert cond["ContainersReady"]["message"] == "containers with unready status: [app]"
        node.kubectl("exec", name, "--", "touch", "/tmp/ready")
        node.wait_ready(name, timeout=15)
        assert re.match(rf"^{name}\s+1/1\s+Running\s", row(node, name)), row(node, name)
        node.kubectl("exec", name, "--", "rm", "/tmp/ready")
        wait_for(lambda: re.match(rf"^{name}\s+0/1\s", row(node, name)), 15, "not ready")
        assert "Readiness probe failed: cat: can't open '/tmp/ready': No such file or " \
               "directory" in events(node, name)
    finally:
        delete(node, name)


def test_liveness_restarts_and_logs_previous(node: Node, image: str) -> None:
    name = unique("live")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [{
        "name": "app", "image": image,
        "command": ["sh", "-c", "echo started $(date +%s%N); touch /tmp/alive; sleep 3600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]},
                          "periodSeconds": 1, "failureThreshold": 2}}]}})
    try:
        node.wait_ready(name, timeout=30)
        first = node.kubectl("logs", name).stdout.strip()
        node.kubectl("exec", name, "--", "rm", "/tmp/alive")
        status = wait_for(lambda: (s := get(node, name)["status"]["containerStatuses"][0])
                          ["restartCount"] == 1 and "running" in s["state"] and s, 30,
                          "restart")
        assert status["lastState"]["terminated"]["exitCode"] == 137
        assert "Container app failed liveness probe, will be restarted" in events(node, name)
        assert "Liveness probe failed: cat: can't open '/tmp/alive'" in events(node, name)
        assert node.kubectl("logs", name, "--previous").stdout.strip() == first
        assert re.match(rf"^{name}\s+1/1\s+Running\s+1 \(", row(node, name)), row(node, name)
    finally:
        delete(node, name)


def test_http_and_tcp_probes(node: Node, image: str) -> None:
    name = unique("netprobe")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [{
        "name": "web", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
        "command": ["sh", "-c", "mkdir -p /www; echo ok > /www/healthz; "
                    "httpd -f -p 8080 -h /www"],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                           "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "startupProbe": {"httpGet": {"path": "/missing", "port": 8080},
                         "periodSeconds": 1, "failureThreshold": 30}}]}})
    try:
        time.sleep(3)
        status = get(node, name)["status"]["containerStatuses"][0]
        assert status["started"] is False and status["ready"] is False
        assert "Startup probe failed: HTTP probe failed with statuscode: 404" in \
            events(node, name)
        node.kubectl("exec", name, "--", "sh", "-c", "echo ok > /www/missing")
        node.wait_ready(name, timeout=15)
        status = get(node, name)["status"]["containerStatuses"][0]
        assert status["started"] is True and status["restartCount"] == 0
    finally:
        delete(node, name)


def test_active_deadline(node: Node, image: str) -> None:
    name = unique("deadline")
    apply(node, {"metadata": {"name": name}, "spec": {
        "activeDeadlineSeconds": 2,
        "containers": [{"name": "app", "image": image, "command": ["sleep", "3600"]}]}})
    try:
        status = wait_for(lambda: (s := get(node, name)["status"])["phase"] == "Failed" and s,
                          20, "Failed")
        assert status["reason"] == "DeadlineExceeded"
        assert status["message"] == \
            "Pod was active on the node longer than the specified deadline"
        assert "Pod was active on the node longer than the specified deadline" in \
            events(node, name)
    finally:
        delete(node, name)


def test_env_field_refs_and_security(node: Node, image: str) -> None:
    name = unique("envref")
    apply(node, {"metadata": {"name": name, "labels": {"tier": "web"}}, "spec": {
        "securityContext": {"supplementalGroups": [4321]},
        "containers": [{
            "name": "app", "image": image, "command": ["sleep", "3600"], "workingDir": "/tmp",
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
            "securityContext": {"capabilities": {"drop": ["ALL"]}, "runAsUser": 1000},
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "TIER", "valueFrom": {"fieldRef": {
                    "fieldPath": "metadata.labels['tier']"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                    "resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                    "resource": "limits.cpu", "divisor": "1m"}}}]}]}})
    try:
        node.wait_ready(name, timeout=30)
        out = node.kubectl("exec", name, "--", "sh", "-c",
                           "echo $POD $NS $TIER $MEM $CPU; pwd; id -u; id -G; "
                           "grep CapEff /proc/self/status; cat /sys/fs/cgroup/memory.max "
                           "2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
                           ).stdout.split("\n")
        assert out[0] == f"{name} default web 64 500"
        assert out[1] == "/tmp"
        assert out[2] == "1000"
        assert "4321" in out[3].split()
        assert out[4].split() == ["CapEff:", "0000000000000000"]
        assert out[5] == str(64 * 1024 * 1024)
    finally:
        delete(node, name)


def test_post_start_hook_and_failure(node: Node, image: str) -> None:
    name = unique("poststart")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [
        {"name": "ok", "image": image, "command": ["sleep", "3600"],
         "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c",
                                                          "echo hooked > /tmp/hook"]}}}},
        {"name": "bad", "image": image, "command": ["sleep", "3600"],
         "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}}}]}})
    try:
        wait_for(lambda: "FailedPostStartHook" in events(node, name), 20, "hook failure")
        hooked = wait_for(lambda: node.kubectl("exec", name, "-c", "ok", "--", "cat", "/tmp/hook",
                                               check=False).stdout, 10, "the ok container")
        assert hooked == "hooked\n"
        text = events(node, name)
        assert f'Exec lifecycle hook ([sh -c exit 7]) for Container "bad" in Pod "{name}_' \
               'default(' in text
        assert "failed - error: command 'sh -c exit 7' exited with 7: , message: \"\"" in text
        wait_for(lambda: get(node, name)["status"]["containerStatuses"][1]["restartCount"]
                 >= 1, 20, "restart of the container whose hook failed")
    finally:
        delete(node, name)


def test_termination_messages_and_oom(node: Node, image: str) -> None:
    name = unique("term")
    apply(node, {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "msg", "image": image,
         "command": ["sh", "-c", "echo -n 'all done' > /dev/termination-log"]},
        {"name": "custom", "image": image, "terminationMessagePath": "/tmp/why",
         "command": ["sh", "-c", "echo -n because > /tmp/why; exit 1"]},
        {"name": "fallback", "image": image, "terminationMessagePolicy": "FallbackToLogsOnError",
         "command": ["sh", "-c", "echo first; echo last words; exit 2"]},
        {"name": "oom", "image": image, "resources": {"limits": {"memory": "16Mi"}},
         "command": ["sh", "-c", "head -c 200m /dev/zero | tail"]}]}})
    try:
        status = wait_for(lambda: (s := get(node, name)["status"])["phase"] == "Failed" and s,
                          30, "Failed")
        term = {c["name"]: c["state"]["terminated"] for c in status["containerStatuses"]}
        assert term["msg"]["reason"] == "Completed" and term["msg"]["message"] == "all done"
        assert term["custom"]["reason"] == "Error" and term["custom"]["message"] == "because"
        assert term["fallback"]["exitCode"] == 2
        assert term["fallback"]["message"] == "first\nlast words\n"
        assert term["oom"]["reason"] == "OOMKilled" and term["oom"]["exitCode"] == 137
        assert re.match(rf"^{name}\s+0/4\s+Completed\s", row(node, name))
    finally:
        delete(node, name)


def test_config_error_reason(node: Node, image: str) -> None:
    name = unique("cfgerr")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [{
        "name": "app", "image": image, "command": ["sleep", "3600"],
        "securityContext": {"runAsUser": 0},
        "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {
            "resource": "limits.memory", "divisor": "1Mi"}}}],
        "resources": {"limits": {"memory": "32Mi"}}}]}})
    try:
        node.wait_ready(name, timeout=30)
        assert node.kubectl("exec", name, "--", "sh", "-c", "echo $X").stdout == "32\n"
        out = node.kubectl("logs", name, "--limit-bytes=1", check=False)
        assert out.returncode == 0
    finally:
        delete(node, name)


def test_share_process_namespace(node: Node, image: str) -> None:
    name = unique("sharepid")
    apply(node, {"metadata": {"name": name}, "spec": {
        "shareProcessNamespace": True,
        "containers": [{"name": "a", "image": image, "command": ["sleep", "3601"]},
                       {"name": "b", "image": image, "command": ["sleep", "3602"]}]}})
    try:
        node.wait_ready(name, timeout=30)
        ps = node.kubectl("exec", name, "-c", "b", "--", "ps", "-o", "pid,args").stdout
        assert "sleep 3601" in ps and "sleep 3602" in ps, ps
        first = ps.splitlines()[1].split()
        assert first[0] == "1"  # the Pod's init, not a container's process
    finally:
        delete(node, name)


def test_finalizers_hold_a_deleted_pod_until_removed(node: Node) -> None:
    name = unique("final")
    pod = {"metadata": {"name": name, "finalizers": ["example.com/keep"]},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": [
               "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}]}}
    apply(node, pod)
    node.wait_ready(name, 60)
    uid = node.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").stdout
    node.kubectl("delete", "pod", name, "--wait=false")
    deadline = time.monotonic() + 30
    while True:  # the node stops the containers, the Pod stays (Terminating) for its finalizer
        got = json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout)
        state = got["status"]["containerStatuses"][0]["state"]
        if "terminated" in state and got["metadata"].get("deletionGracePeriodSeconds") == 0:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.3)
    assert got["metadata"]["deletionTimestamp"]
    assert state["terminated"]["exitCode"] == 0
    assert "Terminating" in node.kubectl("get", "pod", name).stdout
    time.sleep(1)  # and stays so
    assert node.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").stdout == uid
    assert not (node.root / "pods" / uid).exists()  # nothing of it left on the node
    node.kubectl("patch", "pod", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    node.kubectl("wait", "--for=delete", f"pod/{name}", "--timeout=30s", timeout=40)
