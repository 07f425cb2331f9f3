"""The NetworkPolicy rule model (which Pods a policy selects, which peers and ports result) and
its nftables text, as tables of cases."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from podhost.network.policy import PolicyPod, block_ranges, build, disjoint, merge
from podhost.network.policytable import PodRules, delta_script, full_script, pod_rules

NAMESPACES = {"x": {"ns": "x"}, "y": {"ns": "y"}, "z": {"ns": "z"}}


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def make_pods() -> dict[str, PolicyPod]:
    """x/a .. z/c at 10.0.0.1 .. 10.0.0.9, each naming port 80 `web` (x/b names 8080)."""
    pods = {}
    for i, (ns, name) in enumerate((n, p) for n in "xyz" for p in "abc"):
        port = 8080 if (ns, name) == ("x", "b") else 80
        pods[f"{ns}/{name}"] = PolicyPod(ns, {"pod": name}, ip(f"10.0.0.{i + 1}"),
                                         {("web", "TCP"): port})
    return pods


PODS = make_pods()


def policy(ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": ns}, "spec": spec}


def allowed(policies: list[dict[str, Any]], source: str, target: str, port: int = 80,
            protocol: str = "TCP") -> bool:
    """What the model lets `source` send to `target` (both egress and ingress rules)."""
    model = build(policies, list(PODS.values()), NAMESPACES)
    s, t = PODS[source].ip, PODS[target].ip

    def passes(direction: Any, me: int, peer: int) -> bool:
        if me not in direction.isolated:
            return True
        if any(lo <= peer <= hi for lo, hi in direction.any_port.get(me, [])):
            return True
        return any(lo <= peer <= hi and plo <= port <= phi
                   for (lo, hi), (plo, phi) in direction.ports.get((me, protocol), []))
    return passes(model.egress, s, t) and passes(model.ingress, t, s)


A_IN_X = {"matchLabels": {"pod": "a"}}
CASES = [
    # (name, policies, source, target, port, reachable)
    ("no policy", [], "y/b", "x/a", 80, True),
    ("default deny", [policy("x", {"podSelector": {}})], "y/b", "x/a", 80, False),
    ("default deny other ns", [policy("x", {"podSelector": {}})], "x/a", "y/b", 80, True),
    ("pod label", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]})], "x/b", "x/a", 80, True),
    ("pod label: same labels elsewhere", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]})], "y/b", "x/a", 80,
     False),
    ("namespace label", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]})], "y/c", "x/a", 80,
     True),
    ("AND: other pod of the ns", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}},
                   "podSelector": {"matchLabels": {"pod": "b"}}}]}]})], "y/c", "x/a", 80,
     False),
    ("AND: the pod", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}},
                   "podSelector": {"matchLabels": {"pod": "b"}}}]}]})], "y/b", "x/a", 80, True),
    ("OR: pod selector alone is the policy's ns", [policy("x", {"podSelector": A_IN_X,
                                                                "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
        {"podSelector": {"matchLabels": {"pod": "b"}}}]}]})], "z/b", "x/a", 80, False),
    ("port by number", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"ports": [{"port": 81, "protocol": "TCP"}]}]})], "y/b", "x/a", 80, False),
    ("endPort range", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"ports": [{"port": 70, "endPort": 90, "protocol": "TCP"}]}]})], "y/b", "x/a", 80,
     True),
    ("other protocol", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"ports": [{"port": 80, "protocol": "UDP"}]}]})], "y/b", "x/a", 80, False),
    ("named ingress port: the selected Pod's", [policy("x", {"podSelector": {}, "ingress": [
        {"ports": [{"port": "web", "protocol": "TCP"}]}]})], "y/a", "x/b", 8080, True),
    ("named ingress port: not another's", [policy("x", {"podSelector": {}, "ingress": [
        {"ports": [{"port": "web", "protocol": "TCP"}]}]})], "y/a", "x/b", 80, False),
    ("named egress port: the destination's", [policy("y", {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "web", "protocol": "TCP"}]}]})], "y/a", "x/b", 8080,
     True),
    ("egress isolates the source", [policy("y", {
        "podSelector": {}, "policyTypes": ["Egress"]})], "y/a", "x/b", 80, False),
    ("ipBlock", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.4/31"]}}]}]})],
     "y/c", "x/a", 80, True),
    ("ipBlock except", [policy("x", {"podSelector": A_IN_X, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.4/31"]}}]}]})],
     "y/a", "x/a", 80, False),
    ("additive", [policy("x", {"podSelector": {}}),
                  policy("x", {"podSelector": A_IN_X, "ingress": [{}]})], "z/c", "x/a", 80,
     True),
    ("Egress only leaves ingress open", [policy("x", {"podSelector": {},
                                                      "policyTypes": ["Egress"]})],
     "y/a", "x/a", 80, True),
]


@pytest.mark.parametrize("name, policies, source, target, port, reachable", CASES,
                         ids=[c[0] for c in CASES])
def test_truth_table(name: str, policies: list[dict[str, Any]], source: str, target: str,
                     port: int, reachable: bool) -> None:
    assert allowed(policies, source, target, port) is reachable


def test_hostnetwork_pods_are_neither_selected_nor_peers() -> None:
    pod = {"metadata": {"namespace": "x"}, "spec": {"hostNetwork": True}}
    assert PolicyPod.of(pod, "10.0.0.1") is None
    named = {"metadata": {"namespace": "x", "labels": {"a": "b"}}, "spec": {"containers": [
        {"ports": [{"name": "web", "containerPort": 80}, {"containerPort": 81}]}]}}
    assert PolicyPod.of(named, "10.0.0.1") == PolicyPod("x", {"a": "b"}, ip("10.0.0.1"),
                                                        {("web", "TCP"): 80})
    assert PolicyPod.of(named, "") is None


def test_block_ranges_and_merging() -> None:
    assert block_ranges({"cidr": "10.0.0.0/30", "except": ["10.0.0.1/32"]}) == \
        [(ip("10.0.0.0"), ip("10.0.0.0")), (ip("10.0.0.2"), ip("10.0.0.3"))]
    assert block_ranges({"cidr": "10.0.0.0/30", "except": ["10.0.0.0/24"]}) == []
    assert block_ranges({"cidr": "fd00::/8"}) == []
    assert merge([(5, 9), (1, 3), (4, 4), (20, 30)]) == [(1, 9), (20, 30)]


def test_disjoint_covers_the_same_pairs_without_overlap() -> None:
    rects = [((0, 100), (80, 80)), ((10, 20), (80, 81)), ((10, 20), (443, 443)),
             ((21, 30), (80, 81))]
    out = disjoint(rects)
    assert out == [((0, 9), (80, 80)), ((10, 20), (80, 81)), ((10, 20), (443, 443)),
                   ((21, 30), (80, 81)), ((31, 100), (80, 80))]
    assert disjoint([((0, 5), (1, 2)), ((6, 9), (1, 2))]) == [((0, 9), (1, 2))]
    covered = {(a, p) for (lo, hi), (plo, phi) in rects for a in range(lo, hi + 1)
               for p in range(plo, phi + 1)}
    got = [(a, p) for (lo, hi), (plo, phi) in out for a in range(lo, hi + 1)
           for p in range(plo, phi + 1)]
    assert len(got) == len(set(got)) and set(got) == covered


def test_the_nft_text() -> None:
    pols = [policy("x", {"podSelector": A_IN_X, "policyTypes": ["Ingress", "Egress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                      "ports": [{"port": 80, "endPort": 81, "protocol": "TCP"},
                                                {"port": 53, "protocol": "SCTP"}]}],
                         "egress": [{}]})]
    model = build(pols, list(PODS.values()), NAMESPACES)
    rules = pod_rules(model, ("TCP", "UDP"))  # SCTP left out when the kernel has none
    assert rules == {
        "i-0a000001": PodRules("ingress", "10.0.0.1", (), ("10.0.0.2 . tcp . 80-81",)),
        "e-0a000001": PodRules("egress", "10.0.0.1", ("0.0.0.0-255.255.255.255",), ())}
    assert pod_rules(model)["i-0a000001"].ports == ("10.0.0.2 . tcp . 80-81",
                                                    "10.0.0.2 . sctp . 53")
    text = full_script("t", rules)
    assert text.startswith("table ip t { }\ndelete table ip t\ntable ip t {\n")
    assert "    ct state established,related accept\n" \
        "    ip saddr vmap @egress-pods\n" \
        "    ip daddr vmap @ingress-pods\n" in text
    assert "add element ip t i-0a000001-ports { 10.0.0.2 . tcp . 80-81 }\n" \
        "add rule ip t i-0a000001 ip saddr 10.0.0.1 return\n" \
        "add rule ip t i-0a000001 ip saddr @i-0a000001-any return\n" \
        "add rule ip t i-0a000001 ip saddr . meta l4proto . th dport @i-0a000001-ports " \
        "return\nadd rule ip t i-0a000001 drop\n" in text
    assert text.endswith("add element ip t ingress-pods { 10.0.0.1 : jump i-0a000001 }\n"
                         "add element ip t egress-pods { 10.0.0.1 : jump e-0a000001 }\n")


def test_a_change_touches_only_the_pods_whose_rules_changed() -> None:
    old = {"i-0a000001": PodRules("ingress", "10.0.0.1", (), ("10.0.0.2 . tcp . 80",)),
           "i-0a000002": PodRules("ingress", "10.0.0.2", ("10.0.0.3",), ()),
           "e-0a000003": PodRules("egress", "10.0.0.3", (), ())}
    new = {"i-0a000001": old["i-0a000001"],
           "i-0a000002": PodRules("ingress", "10.0.0.2", ("10.0.0.4",), ()),
           "i-0a000005": PodRules("ingress", "10.0.0.5", (), ())}
    assert delta_script("t", old, old) == ""
    assert delta_script("t", old, new).splitlines() == [
        "delete element ip t egress-pods { 10.0.0.3 }",
        "flush chain ip t e-0a000003",
        "delete set ip t e-0a000003-any",
        "delete set ip t e-0a000003-ports",
        "delete chain ip t e-0a000003",
        "flush chain ip t i-0a000002",
        "delete set ip t i-0a000002-any",
        "delete set ip t i-0a000002-ports",
        "add set ip t i-0a000002-any { type ipv4_addr; flags interval; }",
        "add set ip t i-0a000002-ports { type ipv4_addr . inet_proto . inet_service; flags "
        "interval; }",
        "add element ip t i-0a000002-any { 10.0.0.4 }",
        "add rule ip t i-0a000002 ip saddr 10.0.0.2 return",
        "add rule ip t i-0a000002 ip saddr @i-0a000002-any return",
        "add rule ip t i-0a000002 ip saddr . meta l4proto . th dport @i-0a000002-ports return",
        "add rule ip t i-0a000002 drop",
        "add chain ip t i-0a000005",
        "add set ip t i-0a000005-any { type ipv4_addr; flags interval; }",
        "add set ip t i-0a000005-ports { type ipv4_addr . inet_proto . inet_service; flags "
        "interval; }",
        "add rule ip t i-0a000005 ip saddr 10.0.0.5 return",
        "add rule ip t i-0a000005 ip saddr @i-0a000005-any return",
        "add rule ip t i-0a000005 ip saddr . meta l4proto . th dport @i-0a000005-ports return",
        "add rule ip t i-0a000005 drop",
        "add element ip t ingress-pods { 10.0.0.5 : jump i-0a000005 }"]
