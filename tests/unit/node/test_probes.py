"""Pure parts of probes, hooks and Pod status (issue 6)."""

from __future__ import annotations

import asyncio

import pytest

from podhost.node import containers
from podhost.node.pod_state import ContainerRecord
from podhost.node.probes import (
    ProbeCounter,
    ProbeError,
    ProbeSpec,
    container_probes,
    exec_action,
    http_request,
    http_status,
    resolve_port,
)
from podhost.node.status import phase, pod_status


def test_probe_defaults() -> None:
    spec = ProbeSpec.of("Liveness", {"exec": {"command": ["true"]}})
    assert (spec.initial_delay, spec.period, spec.timeout) == (0, 10, 1)
    assert (spec.success_threshold, spec.failure_threshold) == (1, 3)
    probes = container_probes({"readinessProbe": {"tcpSocket": {"port": 80}},
                               "startupProbe": {"tcpSocket": {"port": 80}}})
    assert list(probes) == ["Startup", "Readiness"]


def test_counter_thresholds() -> None:
    c = ProbeCounter(success_threshold=2, failure_threshold=3)
    assert c.record(False) is None and c.record(False) is None
    assert c.record(False) is False
    assert c.record(False) is None  # no change
    assert c.record(True) is None
    assert c.record(True) is True
    assert c.record(False) is None  # failures counted from zero again


def test_resolve_port() -> None:
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port(80, container) == 80
    assert resolve_port("8081", container) == 8081
    assert resolve_port("http", container) == 8080
    with pytest.raises(ProbeError, match="couldn't find port: metrics in web"):
        resolve_port("metrics", container)


def test_http_request_and_status() -> None:
    url, request = http_request({"path": "healthz", "httpHeaders": [
        {"name": "x-custom", "value": "1"}]}, "127.0.0.1", 8080)
    assert url == "http://127.0.0.1:8080/healthz"
    assert request.startswith(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert b"User-Agent: kube-probe/1.32\r\n" in request
    assert b"X-Custom: 1\r\n" in request and request.endswith(b"\r\n\r\n")
    assert http_status(b"HTTP/1.1 404 Not Found\r\n\r\n") == 404
    with pytest.raises(ValueError):
        http_status(b"garbage")


def test_exec_action_messages() -> None:
    async def fails(argv: list[str], timeout: float) -> tuple[int, bytes]:
        return 1, b"cat: can't open '/tmp/x': No such file or directory\n"

    async def slow(argv: list[str], timeout: float) -> tuple[int, bytes]:
        raise TimeoutError

    with pytest.raises(ProbeError, match="^cat: can't open"):
        asyncio.run(exec_action(fails, {"command": ["cat", "/tmp/x"]}, 1))
    with pytest.raises(ProbeError, match="^command 'sleep 9' timed out$"):
        asyncio.run(exec_action(slow, {"command": ["sleep", "9"]}, 1))


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "x"},
                    "annotations": {"a": "b"}},
       "spec": {"nodeName": "n1", "containers": []}}


def test_field_refs() -> None:
    assert containers.field_ref(POD, "metadata.name") == "p"
    assert containers.field_ref(POD, "metadata.namespace") == "ns"
    assert containers.field_ref(POD, "metadata.uid") == "u1"
    assert containers.field_ref(POD, "metadata.labels['app']") == "x"
    assert containers.field_ref(POD, "metadata.annotations['a']") == "b"
    assert containers.field_ref(POD, "metadata.labels") == 'app="x"'
    assert containers.field_ref(POD, "spec.nodeName") == "n1"
    assert containers.field_ref(POD, "spec.serviceAccountName") == "default"
    assert containers.field_ref(POD, "status.hostIP", host_ip="10.0.0.1") == "10.0.0.1"


def test_resource_refs_and_limits() -> None:
    c = {"resources": {"limits": {"memory": "64Mi", "cpu": "500m"},
                       "requests": {"cpu": "250m"}}}
    assert containers.resource_ref(c, {"resource": "limits.memory", "divisor": "1Mi"}, 4, 0) \
        == "64"
    assert containers.resource_ref(c, {"resource": "limits.cpu", "divisor": "1m"}, 4, 0) == "500"
    assert containers.resource_ref(c, {"resource": "requests.cpu"}, 4, 0) == "1"
    assert containers.resource_ref({}, {"resource": "limits.cpu"}, 4, 0) == "4"
    limits = containers.resource_limits(c)
    assert limits.memory == 64 * 2**20
    assert (limits.cpu_quota, limits.cpu_period, limits.cpu_shares) == (50000, 100000, 256)
    env = containers.container_env(
        {"env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "G", "value": "hi $(N)"}]}, {}, {}, POD, {})
    assert env == {"N": "p", "G": "hi p"}


def test_capabilities_and_seccomp() -> None:
    defaults = ("CAP_CHOWN", "CAP_KILL")
    assert containers.capabilities({}, defaults) is None
    assert containers.capabilities({"capabilities": {"drop": ["ALL"]}}, defaults) == ()
    assert containers.capabilities({"capabilities": {"drop": ["KILL"], "add": ["NET_ADMIN"]}},
                                   defaults) == ("CAP_CHOWN", "CAP_NET_ADMIN")
    assert containers.seccomp(POD, {}) == "RuntimeDefault"
    assert containers.seccomp(POD, {"securityContext": {"seccompProfile": {
        "type": "Unconfined"}}}) == "Unconfined"


def _running(name: str, **kw: object) -> ContainerRecord:
    rec = ContainerRecord(name, "busybox", **kw)  # type: ignore[arg-type]
    rec.id, rec.started_at, rec.waiting_reason = "c" * 8, "2026-01-01T00:00:00Z", ""
    return rec


def test_sidecar_phase_and_readiness() -> None:
    pod = {"metadata": {}, "spec": {"restartPolicy": "Never"}}
    side = _running("side", init=True, sidecar=True)
    app = ContainerRecord("app", "busybox")
    app.id, app.started_at, app.exit_code, app.waiting_reason = "a", "t", 0, ""
    assert phase(pod, [side], [app], True) == "Succeeded"
    starting = ContainerRecord("side", "busybox", init=True, sidecar=True)
    assert phase(pod, [starting], [ContainerRecord("app", "busybox")], True) == "Pending"
    web = _running("web")
    web.ready = False
    status = pod_status({"metadata": {}, "spec": {}}, [], [web], True, "127.0.0.1", None)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert status["containerStatuses"][0]["ready"] is False


def test_deadline_status() -> None:
    status = pod_status({"metadata": {}, "spec": {}}, [], [_running("a")], True, "127.0.0.1",
                        None, ("DeadlineExceeded", "Pod was active on the node longer than "
                               "the specified deadline"))
    assert status["phase"] == "Failed" and status["reason"] == "DeadlineExceeded"
