"""Pod Security admission tried as a new user would: a user certificate from `podhost
kubeconfig --user dev-user --group dev`, bound to `edit` in a namespace labelled
enforce=restricted, gets each of eleven hostile Pods refused with PodSecurity's message while a
compliant Pod runs; with warn=baseline the Pod is created and kubectl prints the warning; a
stricter enforce label warns of the Pods already there."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

PSA = "pod-security.kubernetes.io"
COMPLIANT = {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
             "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
# name -> (pod spec fields, container securityContext, what PodSecurity says of it)
HOSTILE: dict[str, tuple[dict[str, object], dict[str, object], str]] = {
    "privileged": ({}, {"privileged": True, "allowPrivilegeEscalation": True},
                   'privileged (container "c" must not set securityContext.privileged=true)'),
    "host-path": ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, {},
                  'restricted volume types (volume "root" uses restricted volume type '
                  '"hostPath")'),
    "host-pid": ({"hostPID": True}, {}, "host namespaces (hostPID=true)"),
    "host-network": ({"hostNetwork": True}, {}, "host namespaces (hostNetwork=true)"),
    "host-ipc": ({"hostIPC": True}, {}, "host namespaces (hostIPC=true)"),
    "run-as-root": ({}, {"runAsUser": 0}, 'runAsUser=0 (container "c" must not set '
                                          "runAsUser=0)"),
    "sys-admin": ({}, {"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}},
                  'unrestricted capabilities (container "c" must not include "SYS_ADMIN" in '
                  "securityContext.capabilities.add)"),
    "host-port": ({"ports": [{"containerPort": 8080, "hostPort": 8080}]}, {},
                  'hostPort (container "c" uses hostPort 8080)'),
    "escalation": ({}, {"allowPrivilegeEscalation": True},
                   'allowPrivilegeEscalation != false (container "c" must set '
                   "securityContext.allowPrivilegeEscalation=false)"),
    "unconfined": ({}, {"seccompProfile": {"type": "Unconfined"}},
                   'seccompProfile (container "c" must not set '
                   'securityContext.seccompProfile.type to "Unconfined")'),
    "may-be-root": ({}, {"runAsNonRoot": False},
                    'runAsNonRoot != true (container "c" must not set '
                    "securityContext.runAsNonRoot=false)"),
}


def pod(name: str, ns: str, spec: dict[str, object] | None = None,
        security: dict[str, object] | None = None) -> str:
    spec = dict(spec or {})
    container: dict[str, object] = {"name": "c", "image": "busybox",
                                    "command": ["sleep", "3600"],
                                    "securityContext": {**COMPLIANT, **(security or {})}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": ns},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [container],
                                **spec}})


def dev_user(node: Node, ns: str) -> Path:
    config = node.root.parent / "dev-user.kubeconfig"
    if not config.exists():
        config.write_text(node.podhost("kubeconfig", "--user", "dev-user", "--group",
                                       "dev").stdout)
        config.chmod(0o600)
    node.kubectl("create", "rolebinding", "dev-edit", "-n", ns, "--clusterrole=edit",
                 "--group=dev")
    return config


def labelled(node: Node, ns: str, *labels: str) -> None:
    node.kubectl("create", "namespace", ns)
    node.kubectl("label", "namespace", ns, *labels)


def test_restricted_refuses_each_hostile_pod_and_runs_a_compliant_one(node: Node) -> None:
    ns = "psa-restricted"
    labelled(node, ns, f"{PSA}/enforce=restricted")
    config = dev_user(node, ns)
    for name, (spec, security, message) in HOSTILE.items():
        out = node.kubectl("--kubeconfig", str(config), "apply", "-f", "-",
                           input=pod(name, ns, spec, security), check=False)
        assert out.returncode == 1, (name, out.stdout)
        first = out.stderr.strip().splitlines()[0]
        assert first.startswith(
            f'Error from server (Forbidden): error when creating "STDIN": pods "{name}" is '
            f'forbidden: violates PodSecurity "restricted:latest": '), first
        assert message in first, (name, first)
    assert node.kubectl("get", "pods", "-n", ns, "-o", "name").stdout == ""
    node.kubectl("--kubeconfig", str(config), "apply", "-f", "-", input=pod("ok", ns))
    node.kubectl("wait", "--for=condition=Ready", "pod/ok", "-n", ns, "--timeout=60s",
                 timeout=70)
    # the user may not relax the namespace: edit does not update namespaces
    relax = node.kubectl("--kubeconfig", str(config), "label", "namespace", ns,
                         f"{PSA}/enforce=privileged", "--overwrite", check=False)
    assert relax.returncode == 1 and "Forbidden" in relax.stderr


def test_warn_baseline_creates_and_kubectl_prints_the_warning(node: Node) -> None:
    ns = "psa-warn"
    labelled(node, ns, f"{PSA}/warn=baseline")
    config = dev_user(node, ns)
    out = node.kubectl("--kubeconfig", str(config), "apply", "-f", "-",
                       input=pod("loud", ns, {"hostPID": True},
                                 {"privileged": True, "allowPrivilegeEscalation": True}))
    assert out.stdout.strip() == "pod/loud created"
    assert out.stderr.strip() == (
        'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostPID=true), '
        'privileged (container "c" must not set securityContext.privileged=true)')
    assert node.kubectl("get", "pod", "loud", "-n", ns, "-o", "name").stdout.strip() == \
        "pod/loud"
    # a stricter enforce level on the namespace: the Pods already there are named
    label = node.kubectl("label", "namespace", ns, f"{PSA}/enforce=baseline")
    assert label.stderr.strip().splitlines() == [
        f'Warning: existing pods in namespace "{ns}" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "Warning: loud: host namespaces, privileged"]
    node.kubectl("delete", "pod", "loud", "-n", ns, "--grace-period=0", "--force",
                 "--wait=false")


def test_cluster_default_and_exemptions_from_the_admission_configuration(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.e2e.conftest import start_node, stop_node
    conf = tmp_path_factory.mktemp("psa-conf") / "admission.yaml"
    conf.write_text("""
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline, warn: restricted}
    exemptions: {namespaces: [free]}
""")
    node = start_node(tmp_path_factory.mktemp("psa-node") / "root",
                      ["--admission-control-config-file", str(conf)])
    try:
        node.kubectl("create", "namespace", "free")
        hostile = pod("h", "default", {"hostNetwork": True})
        out = node.kubectl("apply", "--dry-run=server", "-f", "-", input=hostile, check=False)
        assert out.returncode == 1
        assert 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)' \
            in out.stderr
        out = node.kubectl("apply", "--dry-run=server", "-f", "-",
                           input=pod("h", "free", {"hostNetwork": True}))
        assert out.stderr == ""
        plain = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        out = node.kubectl("apply", "--dry-run=server", "-f", "-", input=plain)
        assert out.stderr.startswith('Warning: would violate PodSecurity "restricted:latest": '
                                     "allowPrivilegeEscalation != false")
    finally:
        stop_node(node)
    bad = tmp_path_factory.mktemp("psa-bad") / "root"
    conf.write_text(conf.read_text().replace("enforce: baseline", "enforce: strict"))
    with pytest.raises(RuntimeError, match='defaults.enforce: Invalid value: "strict"'):
        start_node(bad, ["--admission-control-config-file", str(conf)])


def test_deployment_warned_and_its_pods_refused(node: Node) -> None:
    ns = "psa-workloads"
    labelled(node, ns, f"{PSA}/enforce=baseline")
    deploy = json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox"}]}}}})
    out = node.kubectl("apply", "-f", "-", input=deploy)
    assert out.stderr.strip() == ('Warning: would violate PodSecurity "baseline:latest": host '
                                  "namespaces (hostPID=true)")
    deadline = time.monotonic() + 30
    while True:
        events = node.kubectl("get", "events", "-n", ns, "--field-selector",
                              "reason=FailedCreate", "-o", "jsonpath={.items[*].message}").stdout
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert 'is forbidden: violates PodSecurity "baseline:latest": host namespaces ' \
           "(hostPID=true)" in events
    assert node.kubectl("get", "pods", "-n", ns, "-o", "name").stdout == ""
