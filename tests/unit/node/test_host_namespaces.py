"""Host namespaces and ephemeral containers in the node's pure parts: the namespaces a
container joins, the sandbox's shared namespaces, and ephemeralContainerStatuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podhost.node import container_config, plan, status
from podhost.node.sandboxes import host_namespaces
from podhost.runtime.spec import HOST_NAMESPACE, build_namespaces


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [{"name": "app", "image": "i"}], **spec}}


def test_sandbox_shares_the_host_namespaces_asked_for() -> None:
    assert host_namespaces(pod()) == frozenset()
    assert host_namespaces(pod(hostNetwork=True)) == {"net", "uts"}
    assert host_namespaces(pod(hostIPC=True, hostPID=True)) == {"ipc"}


def test_pid_namespace_host_target_or_own() -> None:
    sandbox = Path("/r/ns")
    assert "pid" not in container_config.sandbox_namespaces(pod(), sandbox)
    assert container_config.sandbox_namespaces(pod(), sandbox, 42)["pid"] == "/proc/42/ns/pid"
    assert container_config.sandbox_namespaces(pod(hostPID=True), sandbox)["pid"] == \
        HOST_NAMESPACE
    types = [n["type"] for n in build_namespaces({"pid": HOST_NAMESPACE})]
    assert "pid" not in types and "mount" in types


def test_ephemeral_container_statuses() -> None:
    p = pod(ephemeralContainers=[{"name": "dbg", "image": "busybox"}])
    records = plan.initial_records(p)
    dbg = records["dbg"]
    dbg.id, dbg.started_at, dbg.waiting_reason, dbg.ready = "c1", "t", "", True
    out = status.pod_status(p, [], plan.apps_of(p, records), True, "10.0.0.1", None,
                            ephemerals=plan.ephemerals_of(p, records))
    [entry] = out["ephemeralContainerStatuses"]
    assert entry["name"] == "dbg" and entry["state"] == {"running": {"startedAt": "t"}}
    assert entry["ready"] is False and entry["containerID"] == "podhost://c1"
    assert [c["name"] for c in out["containerStatuses"]] == ["app"]


def test_an_ended_ephemeral_container_is_restored_as_ended() -> None:
    p = pod(ephemeralContainers=[{"name": "dbg", "image": "busybox"}])
    records = plan.initial_records(p)
    records["dbg"].restore({"state": {"terminated": {"exitCode": 3, "reason": "Error",
                                                     "containerID": "podhost://c9"}}})
    assert records["dbg"].terminated and records["dbg"].exit_code == 3
    seen = plan.PodObservation(uid="u", records=records)
    from podhost.node.backoff import BackOff
    assert plan.compute_pod_actions(p, seen, 0.0, BackOff()).ephemerals_to_start == ()
