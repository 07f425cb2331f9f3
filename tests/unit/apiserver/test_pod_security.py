"""PodSecurity admission through the in-process API server: enforce refuses with upstream's
message, warn answers Warning headers, workloads are warned, namespace label changes are
validated and checked against the Pods there, exemptions, ephemeral containers, the
controllers' Pods."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podhost.api import errors, podsecurity
from podhost.api.podsecurity.config import Config
from podhost.api.podsecurity.levels import LevelVersion, Policy
from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Response
from podhost.controllers import workload
from podhost.registry.client import Client
from tests.unit.apiserver.helpers import make_api, request

PSA = "pod-security.kubernetes.io/"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    yield make_api(tmp_path)
    podsecurity.configure(Config())


def send(api: ApiServer, method: str, target: str, body: Any = None,
         ctype: str = "application/json") -> tuple[int, Any, list[str]]:
    resp = asyncio.run(api.handle(request(method, target, body, headers={"content-type": ctype})))
    assert isinstance(resp, Response)
    warnings = [json.loads(v.removeprefix("299 - ")) for k, v in resp.headers if k == "Warning"]
    return resp.status, json.loads(resp.body), warnings


def namespace(api: ApiServer, name: str, **labels: str) -> None:
    code, body, _ = send(api, "POST", "/api/v1/namespaces",
                         {"metadata": {"name": name, "labels": {PSA + k: v
                                                               for k, v in labels.items()}}})
    assert code == 201, body


def pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox", **spec.pop("container", {})}
    return {"metadata": {"name": name}, "spec": {"containers": [container], **spec}}


COMPLIANT = {"securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                 "capabilities": {"drop": ["ALL"]},
                                 "seccompProfile": {"type": "RuntimeDefault"}}}


def test_enforce_restricted_refuses_with_upstream_message(api: ApiServer) -> None:
    namespace(api, "dev", enforce="restricted")
    code, status, warnings = send(api, "POST", "/api/v1/namespaces/dev/pods",
                                  pod("p", hostPID=True, container={
                                      "securityContext": {"privileged": True}}))
    assert code == 403 and warnings == []
    assert status["reason"] == "Forbidden"
    assert status["details"] == {"name": "p", "kind": "pods"}
    assert status["message"] == (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": host namespaces '
        '(hostPID=true), privileged (container "c" must not set '
        'securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" '
        "must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities "
        '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != '
        'true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")')
    code, _, warnings = send(api, "POST", "/api/v1/namespaces/dev/pods",
                             pod("ok", container=COMPLIANT))
    assert (code, warnings) == (201, [])


def test_warn_baseline_creates_with_warnings(api: ApiServer) -> None:
    namespace(api, "w", warn="baseline", **{"warn-version": "v1.31"})
    code, _, warnings = send(api, "POST", "/api/v1/namespaces/w/pods",
                             pod("p", hostNetwork=True, container={"ports": [
                                 {"containerPort": 8080, "hostPort": 8080}]}))
    assert code == 201
    assert warnings == ['would violate PodSecurity "baseline:v1.31": host namespaces '
                        '(hostNetwork=true), hostPort (container "c" uses hostPort 8080)']


def test_workloads_are_warned_never_refused(api: ApiServer) -> None:
    namespace(api, "dev", enforce="restricted")
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                  "metadata": {"labels": {"a": "b"}},
                  "spec": {"containers": [{"name": "c", "image": "busybox"}],
                           "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}}}
    code, _, warnings = send(api, "POST", "/apis/apps/v1/namespaces/dev/deployments", deploy)
    assert code == 201
    assert len(warnings) == 1
    assert warnings[0].startswith('would violate PodSecurity "restricted:latest": '
                                  "allowPrivilegeEscalation != false")
    assert 'restricted volume types (volume "h" uses restricted volume type "hostPath")' \
        in warnings[0]


def test_controllers_pods_are_enforced(api: ApiServer) -> None:
    namespace(api, "dev", enforce="baseline")
    p = pod("rs-x", hostIPC=True)
    p["metadata"]["namespace"] = "dev"
    with pytest.raises(errors.ForbiddenError, match='violates PodSecurity "baseline:latest": '
                                                    r"host namespaces \(hostIPC=true\)"):
        workload.create(Client(api.registry, "replicaset-controller"), "pods", p)


def test_namespace_labels_are_validated(api: ApiServer) -> None:
    code, status, _ = send(api, "POST", "/api/v1/namespaces", {"metadata": {
        "name": "bad", "labels": {PSA + "enforce": "strict", PSA + "warn-version": "1.30"}}})
    assert code == 422
    assert status["message"] == (
        'Namespace "bad" is invalid: [metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "strict": must be one of privileged, baseline, restricted, '
        "metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: \"1.30\": "
        'must be "latest" or "v1.x"]')


def test_a_stricter_namespace_warns_of_its_pods(api: ApiServer) -> None:
    namespace(api, "n")
    for name in ("b", "a"):
        assert send(api, "POST", "/api/v1/namespaces/n/pods", pod(name, hostPID=True))[0] == 201
    assert send(api, "POST", "/api/v1/namespaces/n/pods", pod("c"))[0] == 201
    code, _, warnings = send(api, "PATCH", "/api/v1/namespaces/n",
                             {"metadata": {"labels": {PSA + "enforce": "baseline"}}},
                             "application/merge-patch+json")
    assert code == 200
    assert warnings == ['existing pods in namespace "n" violate the new PodSecurity enforce '
                        'level "baseline:latest"',
                        "a (and 1 other pod): host namespaces"]


def test_exemptions_and_the_default_level(api: ApiServer) -> None:
    restricted = LevelVersion("restricted")
    podsecurity.configure(Config(Policy(restricted, restricted, restricted),
                                 namespaces=frozenset({"free"}),
                                 runtime_classes=frozenset({"kata"})))
    namespace(api, "free")
    namespace(api, "plain")
    assert send(api, "POST", "/api/v1/namespaces/free/pods", pod("p", hostPID=True))[0] == 201
    assert send(api, "POST", "/api/v1/namespaces/plain/pods", pod("p"))[0] == 403
    assert send(api, "POST", "/api/v1/namespaces/plain/pods",
                pod("k", runtimeClassName="kata"))[0] != 403
    namespace(api, "open", enforce="privileged", warn="privileged", audit="privileged")
    assert send(api, "POST", "/api/v1/namespaces/open/pods", pod("p", hostPID=True))[0] == 201


def test_ephemeral_containers_are_checked(api: ApiServer) -> None:
    namespace(api, "dev", enforce="baseline")
    assert send(api, "POST", "/api/v1/namespaces/dev/pods", pod("p"))[0] == 201
    patch = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox",
                                               "securityContext": {"privileged": True}}]}}
    code, status, _ = send(api, "PATCH", "/api/v1/namespaces/dev/pods/p/ephemeralcontainers",
                           patch, "application/strategic-merge-patch+json")
    assert code == 403
    assert status["message"].endswith('privileged (container "dbg" must not set '
                                      "securityContext.privileged=true)")


def test_exempt_users_are_not_checked(api: ApiServer) -> None:
    namespace(api, "dev", enforce="restricted")
    podsecurity.configure(Config(usernames=frozenset({"podhost-admin"})))
    code, _, warnings = send(api, "POST", "/api/v1/namespaces/dev/pods", pod("p", hostPID=True))
    assert (code, warnings) == (201, [])
