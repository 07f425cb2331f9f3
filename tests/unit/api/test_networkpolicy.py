"""NetworkPolicy's defaults, validation (ValidateNetworkPolicy's paths and words) and columns."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from podhost.api import networkpolicy
from podhost.api.types import Obj


def policy(spec: dict[str, Any], name: str = "np") -> Obj:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def messages(obj: Obj, old: Obj | None = None) -> list[str]:
    errs = networkpolicy.spec_errors(obj["spec"]) if old is None else \
        networkpolicy.validate_update(obj, old)
    return [str(e) for e in errs]


@pytest.mark.parametrize("spec, types", [
    ({"podSelector": {}}, ["Ingress"]),
    ({"podSelector": {}, "egress": [{}]}, ["Ingress", "Egress"]),
    ({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}, ["Egress"]),
])
def test_policy_types_default_as_upstream(spec: dict[str, Any], types: list[str]) -> None:
    obj = policy(spec)
    networkpolicy.prepare_create(obj)
    assert obj["spec"]["policyTypes"] == types
    assert obj["metadata"]["generation"] == 1


def test_ports_default_to_tcp_and_generation_follows_the_spec() -> None:
    obj = policy({"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"protocol": "UDP"}]}]})
    networkpolicy.prepare_create(obj)
    assert obj["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"},
                                                  {"protocol": "UDP"}]
    new = policy({"podSelector": {"matchLabels": {"a": "b"}}})
    networkpolicy.prepare_update(new, obj)
    assert new["metadata"]["generation"] == 2


@pytest.mark.parametrize("spec, expected", [
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP", "port": 1}]}]},
     ['spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: '
      '"TCP", "UDP", "SCTP"']),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]},
     ["spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, "
      "inclusive"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
     ["spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to "
      "`port`"]),
    ({"podSelector": {}, "egress": [{"ports": [{"port": "http", "endPort": 80}]}]},
     ["spec.egress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` "
      "is non-numeric"]),
    ({"podSelector": {}, "egress": [{"ports": [{"endPort": 80}]}]},
     ["spec.egress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` "
      "is not specified"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "Web_1"}]}]},
     ['spec.ingress[0].ports[0].port: Invalid value: "Web_1": must contain only alpha-numeric '
      'characters (a-z, 0-9), and hyphens (-)']),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]},
     ["spec.ingress[0].from[0]: Required value: must specify a peer"]),
    ({"podSelector": {}, "ingress": [{"from": [{"podSelector": {},
                                                "ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
     ["spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"]),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0"}}]}]},
     ['spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0": must be a valid CIDR '
      'value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": ""}}]}]},
     ["spec.egress[0].to[0].ipBlock.cidr: Required value"]),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                         "except": ["11.0.0.0/16",
                                                                    "10.0.0.0/8"]}}]}]},
     ['spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict '
      'subset of `cidr`',
      'spec.egress[0].to[0].ipBlock.except[1]: Invalid value: "10.0.0.0/8": must be a strict '
      'subset of `cidr`']),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]},
     ['spec.policyTypes: Invalid value: &[]networking.PolicyType{"Ingress", "Egress", '
      '"Ingress"}: may not specify more than two policyTypes']),
    ({"podSelector": {}, "policyTypes": ["ingress"]},
     ['spec.policyTypes[0]: Unsupported value: "ingress": supported values: "Ingress", '
      '"Egress"']),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     ["spec.podSelector.matchExpressions[0].values: Required value: must be specified when "
      "`operator` is 'In' or 'NotIn'"]),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists",
                                             "values": ["x"]}]}},
     ["spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when "
      "`operator` is 'Exists' or 'DoesNotExist'"]),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}},
     ['spec.podSelector.matchExpressions[0].operator: Invalid value: "Is": not a valid '
      'selector operator']),
    ({"podSelector": {"matchLabels": {"app": "a b"}}},
     ['spec.podSelector.matchLabels: Invalid value: "a b": a valid label must be an empty '
      "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
      "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
      "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
    ({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
        "matchLabels": {"-bad": "x"}}}]}]},
     ['spec.ingress[0].from[0].namespaceSelector.matchLabels: Invalid value: "-bad": name '
      "part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
      "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
])
def test_validation_paths_and_words(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(policy(spec)) == expected


def test_a_valid_policy() -> None:
    ok = policy({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"t": "a"}},
                                        "podSelector": {}},
                                       {"ipBlock": {"cidr": "10.1.0.0/16",
                                                    "except": ["10.1.2.0/24"]}}],
                              "ports": [{"port": 5432, "endPort": 5440, "protocol": "TCP"},
                                        {"port": "db", "protocol": "SCTP"}]}]})
    assert messages(ok) == []


def test_an_update_keeps_allowing_the_old_cidrs() -> None:
    old = policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "bogus"}}]}]})
    assert messages(old, old) == []
    new = policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "worse"}}]}]})
    assert messages(new, old) == ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: '
                                  '"worse": must be a valid CIDR value, (e.g. 10.9.8.0/24 or '
                                  '2001:db8::/64)']


def test_columns() -> None:
    now = datetime(2024, 1, 1, 0, 10, tzinfo=timezone.utc)
    obj = policy({"podSelector": {}})
    obj["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    assert networkpolicy.cells(obj, now) == ["np", "<none>", "10m"]
    obj["spec"]["podSelector"] = {"matchLabels": {"app": "db", "tier": "b"},
                                  "matchExpressions": [{"key": "env", "operator": "In",
                                                        "values": ["prod", "dev"]}]}
    assert networkpolicy.cells(obj, now)[1] == "app=db,env in (dev,prod),tier=b"
    assert [c[0] for c in networkpolicy.COLUMNS] == ["Name", "Pod-Selector", "Age"]
