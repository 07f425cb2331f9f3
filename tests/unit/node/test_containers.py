"""Env sources, `$(VAR)` expansion, capabilities, runAsNonRoot, hostnames and log stamps as a
Kubernetes 1.32 node gives them (the pure parts behind tests/e2e/test_containers.py)."""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from typing import Any

import pytest

from podhost.node import containers, logs, podfiles
from podhost.node.plan import config_error_retry
from podhost.node.pod_state import ContainerRecord
from podhost.runtime.spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    build_oci_spec,
    host_devices,
)
from podhost.runtime.types import ContainerConfig

Obj = dict[str, Any]

OBJECTS: dict[tuple[str, str], Obj] = {
    ("configmaps", "cm"): {"data": {"color": "blue", "1abc": "one", "bad-key": "two"},
                           "binaryData": {"bin": base64.b64encode(b"x").decode()}},
    ("secrets", "sec"): {"data": {"password": base64.b64encode(b"s3cret").decode()}},
}


def get(resource: str, name: str) -> Obj | None:
    return OBJECTS.get((resource, name))


POD: Obj = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {}}
NODE: dict[str, Any] = {"get": get}


def env_of(container: Obj) -> dict[str, str]:
    return containers.pod_env(container, POD, NODE)


def test_env_sources() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"},
                              {"secretRef": {"name": "sec"}},
                              {"secretRef": {"name": "gone", "optional": True}}],
                  "env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm",
                                                                         "key": "color"}}},
                          {"name": "password", "value": "mine"},
                          {"name": "OPT", "valueFrom": {"secretKeyRef": {
                              "name": "sec", "key": "nope", "optional": True}}},
                          {"name": "OPT2", "valueFrom": {"configMapKeyRef": {
                              "name": "gone", "key": "k", "optional": True}}},
                          {"name": "X", "value": "$(C)-$(CM_1abc)-$$(C)-$(NOPE)-$(Y)"},
                          {"name": "Y", "value": "y"}]})
    assert env == {"CM_color": "blue", "CM_1abc": "one", "CM_bad-key": "two",
                   "password": "mine", "C": "blue", "X": "blue-one-$(C)-$(NOPE)-$(Y)",
                   "Y": "y"}


@pytest.mark.parametrize("container, message", [
    ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]},
     'configmap "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]},
     'secret "x" not found'),
    ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
    ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "bin"}}}]},
     "couldn't find key bin in ConfigMap ns/cm"),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}}]},
     "couldn't find key k in Secret ns/sec"),
])
def test_env_source_errors(container: Obj, message: str) -> None:
    with pytest.raises(LookupError) as e:
        env_of(container)
    assert str(e.value) == message


def test_env_sources_without_store_are_not_found() -> None:
    with pytest.raises(LookupError, match='configmap "cm" not found'):
        containers.pod_env({"envFrom": [{"configMapRef": {"name": "cm"}}]}, POD, {})


def test_relaxed_env_names() -> None:
    assert containers.relaxed_env_name_ok("1abc") and containers.relaxed_env_name_ok("a-b.c")
    assert not containers.relaxed_env_name_ok("a=b") and not containers.relaxed_env_name_ok("")
    assert not containers.relaxed_env_name_ok("é")


def test_command_expands_against_pod_variables_only() -> None:
    """$(PATH) is the image's, not a Pod variable: kubelet leaves it as is."""
    spec = containers.process_spec(
        POD, {"name": "c", "command": ["echo", "$(C)", "$$(C)", "$(PATH)", "$(NOPE)"],
              "env": [{"name": "C", "value": "see"}]},
        {"Env": ["PATH=/bin"]}, node=NODE)
    assert spec.args == ["echo", "see", "$(C)", "$(PATH)", "$(NOPE)"]
    assert spec.env == ["PATH=/bin", "C=see"]


@pytest.mark.parametrize("caps, expected", [
    ({}, None),
    ({"add": ["NET_ADMIN"]}, (*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN")),
    ({"drop": ["ALL"], "add": ["net_bind_service"]}, ("CAP_NET_BIND_SERVICE",)),
    ({"add": ["ALL"], "drop": ["NET_ADMIN"]},
     tuple(c for c in ALL_CAPABILITIES if c != "CAP_NET_ADMIN")),
    ({"add": ["NET_ADMIN"], "drop": ["NET_ADMIN", "CHOWN"]},
     tuple(c for c in DEFAULT_CAPABILITIES if c != "CAP_CHOWN")),
    ({"add": ["ALL"], "drop": ["ALL"]}, ()),
])
def test_capabilities_follow_containerd(caps: Obj, expected: tuple[str, ...] | None) -> None:
    assert containers.capabilities({"capabilities": caps} if caps else {},
                                   DEFAULT_CAPABILITIES) == expected


@pytest.mark.parametrize("sc, image_user, message", [
    ({"runAsNonRoot": True}, "", "container has runAsNonRoot and image will run as root"),
    ({"runAsNonRoot": True}, "0:0", "container has runAsNonRoot and image will run as root"),
    ({"runAsNonRoot": True}, "nobody", "container has runAsNonRoot and image has non-numeric "
                                       "user (nobody), cannot verify user is non-root"),
    ({"runAsNonRoot": True, "runAsUser": 0}, "1000",
     "container's runAsUser breaks non-root policy"),
    ({"runAsNonRoot": True}, "1000", None),
    ({"runAsNonRoot": True, "runAsUser": 5}, "", None),
    ({"runAsNonRoot": False}, "", None),
])
def test_run_as_non_root(sc: Obj, image_user: str, message: str | None) -> None:
    pod = {**POD, "spec": {"securityContext": sc}}
    try:
        containers.process_spec(pod, {"name": "c"}, {"User": image_user})
    except LookupError as e:
        assert str(e) == f'{message} (pod: "p_ns(u-1)", container: c)'
    else:
        assert message is None


def test_hostname_subdomain_and_fqdn() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"hostname": "web", "subdomain": "grp"}}
    assert podfiles.hostname(pod) == "web"
    assert podfiles.hosts_content(pod, "10.244.0.5").endswith(
        "10.244.0.5\tweb.grp.ns.svc.cluster.local\tweb\n")
    pod["spec"]["setHostnameAsFQDN"] = True
    assert podfiles.hostname(pod) == "web.grp.ns.svc.cluster.local"
    assert podfiles.hosts_content(pod, "10.244.0.5").endswith(
        "10.244.0.5\tweb.grp.ns.svc.cluster.local\tweb\n")
    plain = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"setHostnameAsFQDN": True}}
    assert podfiles.hostname(plain) == "p"  # no subdomain: no domain to add
    assert podfiles.hosts_content(plain, "10.244.0.6").endswith("10.244.0.6\tp\n")


def test_log_stamps_are_aware_and_keep_nanoseconds() -> None:
    data = (b"2026-01-02T03:04:05.123456789+00:00 stdout F one\n"
            b"2026-01-02T03:04:06.5-01:00 stderr F two\n")
    lines = list(logs.parse_lines(data))
    assert lines[0].time == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert logs.render(lines[0], True) == b"2026-01-02T03:04:05.123456789Z one\n"
    assert logs.render(lines[1], True) == b"2026-01-02T04:04:06.500000000Z two\n"
    since = datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc)  # sinceSeconds/sinceTime
    assert [ln.content for ln in logs.select(lines, None, since)] == [b"two\n"]


def test_privileged_gets_host_devices(tmp_path: Any) -> None:
    cfg = ContainerConfig(id="a" * 64, name="p_c", rootfs=tmp_path, args=["sh"],
                          log_path=tmp_path / "log", privileged=True)
    devices = [{"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232,
                "fileMode": 0o660, "uid": 0, "gid": 0}]
    assert build_oci_spec(cfg, devices=devices)["linux"]["devices"] == devices
    plain = ContainerConfig(id="a" * 64, name="p_c", rootfs=tmp_path, args=["sh"],
                            log_path=tmp_path / "log")
    assert "devices" not in build_oci_spec(plain, devices=devices)["linux"]
    found = {d["path"]: d for d in host_devices()}
    if os.path.exists("/dev/null"):
        assert found["/dev/null"]["type"] == "c" and found["/dev/null"]["major"] == 1
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/")) or p == "/dev/console"
                   for p in found)


def test_config_error_retries_without_crash_loop() -> None:
    rec = ContainerRecord("c", "busybox")
    rec.waiting_reason = "CreateContainerConfigError"
    assert config_error_retry(rec)
    rec.last_state = {"terminated": {"exitCode": 1}}
    assert not config_error_retry(rec)  # it ran before: CrashLoopBackOff as usual
