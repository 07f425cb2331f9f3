"""Namespace labels to a policy (api.PolicyToEvaluate), the checks a level:version runs, and
the plugin's configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from podhost.api.podsecurity import config, evaluator
from podhost.api.podsecurity.levels import LATEST, LevelVersion, Policy, policy_from_labels

P = "pod-security.kubernetes.io/"
PRIV, BASE, REST = (LevelVersion(level) for level in ("privileged", "baseline", "restricted"))


@pytest.mark.parametrize(("labels", "expected", "errors"), [
    ({}, Policy(), 0),
    ({P + "enforce": "baseline"}, Policy(BASE, PRIV, BASE), 0),
    ({P + "enforce": "restricted", P + "enforce-version": "v1.24"},
     Policy(LevelVersion("restricted", (1, 24)), PRIV, LevelVersion("restricted", (1, 24))), 0),
    ({P + "enforce": "restricted", P + "warn": "baseline"}, Policy(REST, PRIV, BASE), 0),
    ({P + "enforce": "baseline", P + "warn-version": "v1.30"},
     Policy(BASE, PRIV, LevelVersion("baseline", (1, 30))), 0),
    ({P + "enforce": "bogus"}, Policy(REST, PRIV, PRIV), 1),  # fails closed
    ({P + "warn": "bogus", P + "audit": "x"}, Policy(PRIV, PRIV, PRIV), 2),  # fail open
    ({P + "enforce-version": "1.2"}, Policy(), 1),
])
def test_policy_from_labels(labels: dict[str, str], expected: Policy, errors: int) -> None:
    policy, errs = policy_from_labels(labels, Policy())
    assert (policy, len(errs)) == (expected, errors)


def test_checks_by_level_and_version() -> None:
    assert evaluator.checks_for(PRIV) == []
    assert len(evaluator.checks_for(BASE)) == 11
    assert len(evaluator.checks_for(REST)) == 14  # 11 + 6, three baseline ones overridden
    assert len(evaluator.checks_for(LevelVersion("restricted", (1, 22)))) == 13  # no runAsUser
    assert str(LevelVersion("baseline", (1, 30))) == "baseline:v1.30"
    assert str(LevelVersion("baseline", LATEST)) == "baseline:latest"
    spec = {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}]}}
    assert not evaluator.evaluate(LevelVersion("baseline", (1, 31)), {}, spec).allowed
    assert evaluator.evaluate(LevelVersion("baseline", (1, 40)), {}, spec).allowed


def test_admission_configuration_file(tmp_path: Path) -> None:
    f = tmp_path / "admission.yaml"
    f.write_text("""
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      enforce-version: v1.30
      warn: restricted
    exemptions:
      usernames: [admin]
      namespaces: [kube-system]
      runtimeClasses: [kata]
""")
    c = config.from_file(f)
    assert c.defaults == Policy(LevelVersion("baseline", (1, 30)), PRIV, REST)
    assert (c.usernames, c.namespaces, c.runtime_classes) == (
        {"admin"}, {"kube-system"}, {"kata"})
    f.write_text(f.read_text().replace("enforce: baseline", "enforce: strict"))
    with pytest.raises(config.ConfigError, match='defaults.enforce: Invalid value: "strict": '
                                                 "must be one of privileged, baseline, "
                                                 "restricted"):
        config.from_file(f)
    assert config.from_level("restricted").defaults == Policy(REST, REST, REST)
    with pytest.raises(config.ConfigError):
        config.from_level("none")
