"""NetworkPolicy with real kubectl, as upstream's netpol e2e tests check it: Pods a, b and c in
namespaces x, y and z, each serving ports 80 and 81; every Pod probes every Pod (in parallel,
2 s timeout) and the reachability matrix must match the expected truth table for each policy.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

PODS = ("a", "b", "c")
NAMES = ("x", "y", "z")
SERVE = ("mkdir -p /www && echo ok > /www/index.html && httpd -p 80 -h /www && "
         "httpd -p 81 -h /www && trap 'exit 0' TERM; sleep 3600 & wait")

Peer = tuple[str, str]  # (namespace letter, pod)
Expect = Callable[[Peer, Peer, int], bool]  # (from, to, port) -> reachable


class Cluster:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.suffix = uuid.uuid4().hex[:5]
        self.ips: dict[Peer, str] = {}

    def ns(self, letter: str) -> str:
        return f"{letter}-{self.suffix}"

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.node.kubectl(*args, input=input).stdout

    def create(self) -> None:
        objs: list[dict[str, Any]] = []
        for letter in NAMES:
            objs.append({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": self.ns(letter), "labels": {"ns": letter}}})
        for letter in NAMES:
            for pod in PODS:
                objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": pod, "namespace": self.ns(letter), "labels": {"pod": pod}},
                    "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                        "name": "serve", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", SERVE],
                        "ports": [{"name": "serve-80", "containerPort": 80},
                                  {"name": "serve-81", "containerPort": 81}]}]}})
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                            "items": objs}))
        for letter in NAMES:
            self.node.kubectl("wait", "--for=condition=Ready", "pods", "--all", "-n",
                              self.ns(letter), "--timeout=90s", timeout=100)
            pods = json.loads(self.kubectl("get", "pods", "-n", self.ns(letter), "-o", "json"))
            for p in pods["items"]:
                self.ips[(letter, p["metadata"]["name"])] = p["status"]["podIP"]

    def delete(self) -> None:
        self.node.kubectl("delete", "ns", *(self.ns(n) for n in NAMES), "--wait=false",
                          check=False)

    def policy(self, letter: str, name: str, spec: dict[str, Any]) -> None:
        obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": name, "namespace": self.ns(letter)}, "spec": spec}
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))
        time.sleep(0.3)  # the node applies a change in milliseconds

    def probe_from(self, source: Peer, targets: list[tuple[Peer, int]], timeout: int = 2
                   ) -> dict[tuple[Peer, int], bool]:
        """`targets` probed from `source` at once, in the Pod (wget with a timeout)."""
        script = " ".join(
            f"(timeout {timeout} wget -qO /dev/null http://{self.ips[t]}:{port}/ && echo {i} ok"
            f" || echo {i} no) &" for i, (t, port) in enumerate(targets)) + " wait"
        out = self.node.kubectl("exec", "-n", self.ns(source[0]), source[1], "--", "sh", "-c",
                                script, timeout=30).stdout
        answers = dict(line.split() for line in out.splitlines() if line.strip())
        return {target: answers.get(str(i)) == "ok" for i, target in enumerate(targets)}

    def check(self, expect: Expect, ports: tuple[int, ...] = (80,)) -> None:
        """The whole matrix, probed in parallel. On a loaded machine a probe may time out: a
        connection expected to pass that did not is probed once more, alone, with more time
        (a connection that passed where it should not is never retried)."""
        targets = [(t, port) for t in self.ips for port in ports]
        with ThreadPoolExecutor(len(self.ips)) as pool:
            got = dict(zip(self.ips, pool.map(lambda s: self.probe_from(s, targets), self.ips)))
        wrong = []
        for source, row in got.items():
            for (target, port), ok in row.items():
                want = source == target or expect(source, target, port)
                if want and not ok:
                    ok = self.probe_from(source, [(target, port)], 6)[(target, port)]
                if ok != want:
                    wrong.append(f"{'/'.join(source)} -> {'/'.join(target)}:{port} "
                                 f"{'reachable' if ok else 'blocked'}, expected "
                                 f"{'reachable' if want else 'blocked'}")
        assert not wrong, "\n".join(wrong)

    def fetch_from(self, source: Peer, address: str, timeout: int = 2) -> bool:
        done = self.node.kubectl("exec", "-n", self.ns(source[0]), source[1], "--", "timeout",
                                 str(timeout), "wget", "-qO", "/dev/null", f"http://{address}/",
                                 check=False)
        return done.returncode == 0

    def clear(self) -> None:
        for letter in NAMES:
            self.kubectl("delete", "networkpolicy", "--all", "-n", self.ns(letter))
        time.sleep(0.3)


@pytest.fixture(scope="module")
def cluster(node: Node) -> Iterator[Cluster]:
    c = Cluster(node)
    c.create()
    try:
        yield c
    finally:
        c.delete()


def everything(source: Peer, target: Peer, port: int) -> bool:
    return True


def to_xa(allowed: Callable[[Peer], bool], ports: tuple[int, ...] = (80, 81)) -> Expect:
    """x/a takes only what `allowed` says, on `ports`; every other Pod takes everything."""
    return lambda s, t, port: t != ("x", "a") or (port in ports and allowed(s))


def test_default_deny_ingress_and_deletion(cluster: Cluster) -> None:
    cluster.check(everything)
    cluster.policy("x", "deny-all", {"podSelector": {}})
    out = cluster.kubectl("get", "networkpolicy", "-n", cluster.ns("x"))
    assert out.split("\n")[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    assert out.split("\n")[1].split()[:2] == ["deny-all", "<none>"]
    cluster.check(lambda s, t, port: t[0] != "x")
    # the node itself (kubelet's probes, the host) always reaches its Pods
    with urllib.request.urlopen(f"http://{cluster.ips[('x', 'a')]}/", timeout=5) as r:
        assert r.read() == b"ok\n"
    described = cluster.kubectl("describe", "networkpolicy", "deny-all", "-n", cluster.ns("x"))
    assert "PodSelector:     <none> (Allowing the specific traffic to all pods in this " \
        "namespace)" in described
    assert "Allowing ingress traffic:\n    <none> (Selected pods are isolated for ingress " \
        "connectivity)" in described
    cluster.clear()
    cluster.check(everything)


def test_allow_by_pod_and_namespace_labels_and_or(cluster: Cluster) -> None:
    cluster.policy("x", "from-b", {"podSelector": {"matchLabels": {"pod": "a"}},
                                   "ingress": [{"from": [{"podSelector": {
                                       "matchLabels": {"pod": "b"}}}]}]})
    cluster.check(to_xa(lambda s: s == ("x", "b")))
    cluster.clear()
    cluster.policy("x", "from-y", {"podSelector": {"matchLabels": {"pod": "a"}},
                                   "ingress": [{"from": [{"namespaceSelector": {
                                       "matchLabels": {"ns": "y"}}}]}]})
    cluster.check(to_xa(lambda s: s[0] == "y"))
    cluster.clear()
    y_b_and = {"namespaceSelector": {"matchLabels": {"ns": "y"}},
               "podSelector": {"matchLabels": {"pod": "b"}}}
    cluster.policy("x", "and", {"podSelector": {"matchLabels": {"pod": "a"}},
                                "ingress": [{"from": [y_b_and]}]})
    cluster.check(to_xa(lambda s: s == ("y", "b")))
    cluster.clear()
    cluster.policy("x", "or", {"podSelector": {"matchLabels": {"pod": "a"}},
                               "ingress": [{"from": [
                                   {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                                   {"podSelector": {"matchLabels": {"pod": "b"}}}]}]})
    cluster.check(to_xa(lambda s: s[0] == "y" or s == ("x", "b")))
    cluster.clear()


def test_ports_named_ports_and_additive_policies(cluster: Cluster) -> None:
    a = {"matchLabels": {"pod": "a"}}
    cluster.policy("x", "port-81", {"podSelector": a, "ingress": [{"ports": [{"port": 81}]}]})
    cluster.check(to_xa(lambda s: True, (81,)), (80, 81))
    cluster.clear()
    cluster.policy("x", "named", {"podSelector": a,
                                  "ingress": [{"ports": [{"port": "serve-80"}]}]})
    cluster.check(to_xa(lambda s: True, (80,)), (80, 81))
    # a second policy adds to the first: port 81 from z
    cluster.policy("x", "z-81", {"podSelector": a, "ingress": [{
        "from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}],
        "ports": [{"port": 81, "endPort": 90, "protocol": "TCP"}]}]})
    cluster.check(lambda s, t, port: t != ("x", "a") or port == 80 or s[0] == "z", (80, 81))
    cluster.clear()


def test_egress_deny_with_dns_allowed(cluster: Cluster) -> None:
    cluster.policy("x", "egress", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]})
    cluster.check(lambda s, t, port: s[0] != "x" or t[0] == "y")
    looked_up = cluster.node.kubectl("exec", "-n", cluster.ns("x"), "a", "--", "nslookup",
                                     f"a.{cluster.ns('y')}.svc.cluster.local", check=False)
    assert "NXDOMAIN" in looked_up.stdout + looked_up.stderr  # DNS answered (no such Service)
    cluster.clear()
    # a named egress port is the destination Pod's: y's Pods may send to any Pod's serve-81
    cluster.policy("y", "named-egress", {"podSelector": {}, "policyTypes": ["Egress"],
                                         "egress": [{"ports": [{"port": "serve-81"}]}]})
    cluster.check(lambda s, t, port: s[0] != "y" or port == 81, (80, 81))
    cluster.clear()


def test_ip_block_with_except(cluster: Cluster) -> None:
    y_b = cluster.ips[("y", "b")]
    cluster.policy("x", "block", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"{y_b}/32"]}}]}]})
    cluster.check(to_xa(lambda s: s != ("y", "b")))
    cluster.clear()
    cluster.check(everything)


def test_a_service_is_judged_by_the_pod_behind_it(cluster: Cluster) -> None:
    ns = cluster.ns("x")
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"pod": "a"}, "ports": [{"port": 8080, "targetPort": 80}]}}))
    ip = cluster.kubectl("get", "svc", "web", "-n", ns, "-o", "jsonpath={.spec.clusterIP}")
    deadline = time.monotonic() + 10
    while not cluster.fetch_from(("y", "a"), f"{ip}:8080") and time.monotonic() < deadline:
        time.sleep(0.2)  # the endpoints come
    cluster.policy("x", "from-b", {"podSelector": {"matchLabels": {"pod": "a"}},
                                   "ingress": [{"from": [{"podSelector": {
                                       "matchLabels": {"pod": "b"}}}]}]})
    assert not cluster.fetch_from(("y", "a"), f"{ip}:8080")
    assert cluster.fetch_from(("x", "b"), f"{ip}:8080", 6)
    assert cluster.fetch_from(("x", "b"), f"web.{ns}:8080", 6)  # DNS from the node: allowed
    assert cluster.fetch_from(("x", "a"), f"{ip}:8080", 6)  # itself through it (hairpin)
    cluster.clear()
    cluster.kubectl("delete", "svc", "web", "-n", ns)
