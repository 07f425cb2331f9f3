"""The checks, table-style against upstream's policy/check_*_test.go cases (1.32)."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.api.podsecurity import baseline, restricted
from podhost.api.podsecurity.checks import CheckFn, Forbidden


def cs(*names: str, **sc: Any) -> list[dict[str, Any]]:
    return [{"name": n, **({"securityContext": sc} if sc else {})} for n in names]


def ctx(name: str, **sc: Any) -> dict[str, Any]:
    return {"name": name, "securityContext": sc}


SECCOMP_A = "container.seccomp.security.alpha.kubernetes.io/"
CASES: list[tuple[str, CheckFn, dict[str, Any], dict[str, Any], str, str]] = [
    ("privileged", baseline.privileged, {},
     {"containers": [*cs("a"), ctx("b", privileged=False), ctx("d", privileged=True)],
      "initContainers": [ctx("e", privileged=True)]},
     "privileged", 'containers "e", "d" must not set securityContext.privileged=true'),
    ("host namespaces", baseline.host_namespaces, {},
     {"hostNetwork": True, "hostPID": True, "hostIPC": True},
     "host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true"),
    ("one host port", baseline.host_ports, {},
     {"containers": [{"name": "a", "ports": [{"containerPort": 1}]},
                     {"name": "b", "ports": [{"containerPort": 2, "hostPort": 20}]}]},
     "hostPort", 'container "b" uses hostPort 20'),
    ("host ports", baseline.host_ports, {},
     {"containers": [{"name": "a"}, {"name": "b", "ports": [{"hostPort": 10}, {"hostPort": 20}]},
                     {"name": "c", "ports": [{"hostPort": 30}]}]},
     "hostPort", 'containers "b", "c" use hostPorts 10, 20, 30'),
    ("host path volumes", baseline.host_path_volumes, {},
     {"volumes": [{"name": "a", "hostPath": {}}, {"name": "b", "hostPath": {"path": "/"}},
                  {"name": "c", "emptyDir": {}}]},
     "hostPath volumes", 'volumes "a", "b"'),
    ("capabilities baseline", baseline.capabilities_baseline, {},
     {"containers": [ctx("a", capabilities={"add": ["FOO", "BAR"]}),
                     ctx("b", capabilities={"add": ["BAR", "BAZ", "CHOWN"]}),
                     ctx("c", capabilities={"add": ["CHOWN"]})]},
     "non-default capabilities",
     'containers "a", "b" must not include "BAR", "BAZ", "FOO" in '
     "securityContext.capabilities.add"),
    ("host process", baseline.windows_host_process, {},
     {"securityContext": {"windowsOptions": {"hostProcess": True}},
      "containers": [ctx("d", windowsOptions={"hostProcess": False}),
                     ctx("e", windowsOptions={"hostProcess": True}),
                     ctx("f", windowsOptions={"hostProcess": True})]},
     "hostProcess", 'pod and containers "e", "f" must not set '
                    "securityContext.windowsOptions.hostProcess=true"),
    ("unconfined apparmor pod", baseline.app_armor_profile, {},
     {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": cs("a")},
     "forbidden AppArmor profile", 'pod must not set AppArmor profile type to "Unconfined"'),
    ("apparmor annotations", baseline.app_armor_profile,
     {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined",
                      "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
                      "container.apparmor.security.beta.kubernetes.io/c": "bogus"}},
     {"containers": cs("a", "b", "c")},
     "forbidden AppArmor profiles",
     'annotations must not set AppArmor profile type to '
     '"container.apparmor.security.beta.kubernetes.io/a="unconfined"", '
     '"container.apparmor.security.beta.kubernetes.io/c="bogus""'),
    ("selinux", baseline.CHECKS[7].versions[1].check, {},
     {"securityContext": {"seLinuxOptions": {"type": "foo", "user": "u", "role": "r"}},
      "containers": [ctx("a", seLinuxOptions={}), ctx("b", seLinuxOptions={"type": "container_t"}),
                     ctx("e", seLinuxOptions={"type": "bar"}),
                     ctx("f", seLinuxOptions={"user": "bar"}),
                     ctx("g", seLinuxOptions={"role": "bar"})]},
     "seLinuxOptions", 'pod and containers "e", "f", "g" set forbidden '
                       'securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; '
                       "role may not be set"),
    ("procMount", baseline.proc_mount, {},
     {"containers": [*cs("a"), ctx("b", procMount="Default"), ctx("d", procMount="Unmasked"),
                     ctx("e", procMount="other")]},
     "procMount", 'containers "d", "e" must not set securityContext.procMount to "Unmasked", '
                  '"other"'),
    ("seccomp annotations", baseline.seccomp_baseline_1_0,
     {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                      SECCOMP_A + "a": "unconfined", SECCOMP_A + "b": "unknown"}},
     {"containers": cs("a", "b")},
     "seccompProfile", f'forbidden annotations {SECCOMP_A}a="unconfined", '
                       f'{SECCOMP_A}b="unknown", seccomp.security.alpha.kubernetes.io/pod='
                       '"unconfined"'),
    ("seccomp baseline", baseline.seccomp_baseline_1_19, {},
     {"securityContext": {"seccompProfile": {"type": "Unconfined"}},
      "containers": [*cs("a"), ctx("b", seccompProfile={"type": "RuntimeDefault"}),
                     ctx("c", seccompProfile={"type": "Unconfined"}),
                     ctx("d", seccompProfile={"type": "Unconfined"})]},
     "seccompProfile", 'pod and containers "c", "d" must not set '
                       'securityContext.seccompProfile.type to "Unconfined"'),
    ("sysctls", baseline.CHECKS[10].versions[3].check, {},
     {"securityContext": {"sysctls": [{"name": "a"}, {"name": "net.ipv4.tcp_rmem"},
                                      {"name": "b"}]}},
     "forbidden sysctls", "a, b"),
    ("sysctls 1.29", baseline.CHECKS[10].versions[2].check, {},
     {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_wmem"}]}},
     "forbidden sysctls", "net.ipv4.tcp_wmem"),
    ("allowPrivilegeEscalation", restricted.allow_privilege_escalation_1_8, {},
     {"containers": [*cs("a"), ctx("b", allowPrivilegeEscalation=True), ctx("c"),
                     ctx("d", allowPrivilegeEscalation=False)]},
     "allowPrivilegeEscalation != false",
     'containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false'),
    ("capabilities restricted", restricted.capabilities_restricted_1_22, {},
     {"containers": [ctx("a", capabilities={"add": ["FOO", "BAR"]}),
                     ctx("b", capabilities={"add": ["BAR", "BAZ"], "drop": ["FOO"]}),
                     ctx("c", capabilities={"add": ["CHOWN", "NET_BIND_SERVICE"],
                                            "drop": ["ALL"]}),
                     ctx("d", capabilities={"drop": ["ALL"]})]},
     "unrestricted capabilities",
     'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", '
     '"b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in '
     "securityContext.capabilities.add"),
    ("restricted volumes", restricted.restricted_volumes, {},
     {"volumes": [{"name": "ok", "emptyDir": {}}, {"name": "h", "hostPath": {}},
                  {"name": "n", "nfs": {}}, {"name": "x"}]},
     "restricted volume types",
     'volumes "h", "n", "x" use restricted volume types "hostPath", "nfs", "unknown"'),
    ("runAsNonRoot implicit", restricted.run_as_non_root, {},
     {"containers": [*cs("a"), ctx("b"), ctx("d", runAsNonRoot=True)]},
     "runAsNonRoot != true",
     'pod or containers "a", "b" must set securityContext.runAsNonRoot=true'),
    ("runAsNonRoot explicit", restricted.run_as_non_root, {},
     {"securityContext": {"runAsNonRoot": True},
      "containers": [*cs("a"), ctx("c", runAsNonRoot=False), ctx("d", runAsNonRoot=False)]},
     "runAsNonRoot != true", 'containers "c", "d" must not set securityContext.runAsNonRoot=false'),
    ("runAsNonRoot pod false", restricted.run_as_non_root, {},
     {"securityContext": {"runAsNonRoot": False}, "containers": cs("a")},
     "runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false"),
    ("runAsUser", restricted.run_as_user, {},
     {"securityContext": {"runAsUser": 0},
      "containers": [ctx("a", runAsUser=1), ctx("c", runAsUser=0), ctx("d", runAsUser=0)]},
     "runAsUser=0", 'pod and containers "c", "d" must not set runAsUser=0'),
    ("seccomp restricted implicit", restricted.seccomp_restricted_1_19, {},
     {"containers": [*cs("a"), ctx("b"), ctx("c", seccompProfile={"type": "RuntimeDefault"})]},
     "seccompProfile", 'pod or containers "a", "b" must set securityContext.seccompProfile.type '
                       'to "RuntimeDefault" or "Localhost"'),
    ("seccomp restricted explicit", restricted.seccomp_restricted_1_19, {},
     {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [*cs("a"), ctx("c", seccompProfile={"type": "Unconfined"}),
                     ctx("d", seccompProfile={"type": "Unconfined"})]},
     "seccompProfile", 'containers "c", "d" must not set securityContext.seccompProfile.type to '
                       '"Unconfined"'),
]


@pytest.mark.parametrize(("case", "check", "meta", "spec", "reason", "detail"), CASES,
                         ids=[c[0] for c in CASES])
def test_upstream_cases(case: str, check: CheckFn, meta: dict[str, Any], spec: dict[str, Any],
                        reason: str, detail: str) -> None:
    assert check(meta, spec) == Forbidden(reason, detail)


@pytest.mark.parametrize(("check", "spec"), [
    (baseline.privileged, {"containers": [ctx("a", privileged=False)]}),
    (baseline.capabilities_baseline, {"containers": [ctx("a", capabilities={"add": ["CHOWN"]})]}),
    (baseline.CHECKS[10].versions[3].check,
     {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}]}}),
    (restricted.run_as_user, {"securityContext": {"runAsUser": 1000}, "containers": cs("a")}),
    (restricted.CHECKS[1].versions[1].check, {"os": {"name": "windows"}, "containers": cs("a")}),
    (restricted.CHECKS[4].versions[1].check, {"os": {"name": "windows"}, "containers": cs("a")}),
    (restricted.CHECKS[5].versions[1].check, {"os": {"name": "windows"}, "containers": cs("a")}),
    (baseline.app_armor_profile,
     {"securityContext": {"appArmorProfile": {"type": "Localhost"}}, "containers": cs("a")}),
])
def test_allowed(check: CheckFn, spec: dict[str, Any]) -> None:
    assert check({}, spec) is None
