"""A Pod in protobuf, as `kubectl debug --copy-to` and `kubectl debug node/NAME` send it: Go's
embedded structs (VolumeSource, LocalObjectReference, ProbeHandler) are inlined in JSON."""

from __future__ import annotations

from podhost.apiserver import protobuf
from podhost.apiserver.protobuf import MAGIC
from podhost.protowire import encode_field as f


def s(number: int, text: str) -> bytes:
    return f(number, text.encode())


def test_pod_with_inline_structs() -> None:
    probe = f(1, f(1, s(1, "true")))  # Probe.handler → ProbeHandler.exec → command
    container = s(1, "c") + s(2, "busybox") + f(11, probe)  # readinessProbe is field 11
    cm = f(19, f(1, s(1, "kube-root-ca.crt")))  # VolumeSource.configMap.localObjectReference
    volumes = f(1, s(1, "ca") + f(2, cm)) + f(1, s(1, "root") + f(2, f(1, s(1, "/"))))
    spec = volumes + f(2, container) + s(10, "node1")
    raw = f(1, s(1, "copy")) + f(2, spec)
    body = MAGIC + f(1, s(1, "v1") + s(2, "Pod")) + f(2, raw)
    pod = protobuf.decode(body, "Pod")
    assert pod["metadata"] == {"name": "copy"}
    assert pod["spec"]["volumes"] == [{"name": "ca", "configMap": {"name": "kube-root-ca.crt"}},
                                      {"name": "root", "hostPath": {"path": "/"}}]
    assert pod["spec"]["containers"][0]["readinessProbe"] == {"exec": {"command": ["true"]}}
    assert pod["spec"]["nodeName"] == "node1"
