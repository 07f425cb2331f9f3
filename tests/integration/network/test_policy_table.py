"""The NetworkPolicy table on the real kernel (in a network namespace of its own): the rendered
ruleset loads, a second sync replaces it in one transaction, and it goes at clean-up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from podhost.network.policy import PolicyPod, build
from podhost.network.policytable import PolicyTable

pytestmark = pytest.mark.integration


def listing(table: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", table], capture_output=True,
                          text=True).stdout


def test_the_rendered_ruleset_loads_and_is_replaced(tmp_path: Path) -> None:
    pods = [PolicyPod("x", {"pod": p}, 0x0AF40002 + i, {("web", "TCP"): 80})
            for i, p in enumerate("abc")]
    deny = {"metadata": {"name": "deny", "namespace": "x"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    allow = {"metadata": {"name": "allow", "namespace": "x"}, "spec": {
        "podSelector": {"matchLabels": {"pod": "a"}},
        "ingress": [{"from": [{"podSelector": {}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"port": 80, "endPort": 90, "protocol": "TCP"},
                               {"port": "web", "protocol": "TCP"},
                               {"port": 53, "protocol": "UDP"}]}, {}],
        "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": "web"}]}]}}
    table = PolicyTable(str(tmp_path), registry=tmp_path / "registry")
    table.reset()
    try:
        assert table.apply(build([deny], pods, {"x": {}}))  # the whole table
        assert "10.244.0.2 : jump i-0af40002" in listing(table.table)
        assert table.apply(build([deny, allow], pods, {"x": {}}))  # a change: x/a's sets
        text = listing(table.table)
        assert "10.0.0.0/16 . tcp . 80-90," in text  # except 10.1.0.0/16
        assert "10.2.0.0-10.255.255.255 . tcp . 80-90," in text
        assert "ip saddr . meta l4proto . th dport @i-0af40002-ports return" in text
        assert not table.apply(build([deny, allow], pods, {"x": {}}))  # nothing changed
        assert table.apply(build([allow], pods[:1], {"x": {}}))  # Pods and rules go
        text = listing(table.table)
        assert "i-0af40003" not in text and "e-0af40003" not in text
        table.applied = None  # a restarted node: the whole table anew, in one transaction
        assert table.apply(build([], pods, {"x": {}}))
        assert "jump" not in listing(table.table)
    finally:
        table.forget()
    assert listing(table.table) == ""
    assert not (tmp_path / "registry" / table.table).exists()
