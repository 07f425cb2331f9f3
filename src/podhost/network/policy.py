"""NetworkPolicy semantics, pure: which Pods a policy selects, which peers and ports its rules
allow, and the result as a rule model the nftables table is rendered from
(`network/policytable.py`).

The semantics are those of the Kubernetes documentation and sigs.k8s.io/kube-network-policies:

- a Pod is isolated for ingress (egress) when a policy of its namespace selects it and lists
  `Ingress` (`Egress`) in its policyTypes; an isolated Pod takes only what some rule of some
  policy selecting it allows (policies are additive); a Pod no policy selects takes everything;
- a rule without peers allows every address, without ports every port and protocol;
- a peer with a podSelector alone means Pods of the policy's namespace, a namespaceSelector
  alone every Pod of the selected namespaces, both together the selected Pods of the selected
  namespaces (AND; separate peers are OR); an ipBlock is its CIDR less its exceptions;
- a named port is resolved per Pod: against the Pod the policy selects for ingress, against
  the destination Pod for egress (a named port matches no address that is not a Pod's);
- hostNetwork Pods are neither selected nor peers (their address is the node's).

The model maps each isolated Pod address to the (peer range, protocol, port range) it allows,
as disjoint elements (nftables refuses overlapping elements in a concatenated interval set).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podhost.api.types import Obj
from podhost.api.workload_validation import selector_matches

Range = tuple[int, int]  # inclusive, IPv4 addresses or ports as integers
ALL_ADDRESSES: Range = (0, 2**32 - 1)
ALL_PORTS: Range = (0, 65535)
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class PolicyPod:
    """What the model needs of a Pod: its namespace, labels, address and named ports."""

    namespace: str
    labels: Mapping[str, str]
    ip: int
    ports: Mapping[tuple[str, str], int]  # (name, protocol) -> containerPort

    @staticmethod
    def of(pod: Obj, ip: str) -> PolicyPod | None:
        """None for a Pod policies do not apply to (hostNetwork, no IPv4 address)."""
        if (pod.get("spec") or {}).get("hostNetwork"):
            return None
        try:
            address = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return None
        ports: dict[tuple[str, str], int] = {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") and isinstance(p.get("containerPort"), int):
                    ports.setdefault((p["name"], p.get("protocol") or "TCP"), p["containerPort"])
        m = pod.get("metadata") or {}
        return PolicyPod(m.get("namespace") or "default", dict(m.get("labels") or {}), address,
                         ports)


@dataclass
class Direction:
    """The rules of one direction: isolated Pods, and what each may take (ingress: from which
    sources) or send (egress: to which destinations)."""

    isolated: set[int] = field(default_factory=set)
    any_port: dict[int, list[Range]] = field(default_factory=dict)  # pod -> peer ranges
    ports: dict[tuple[int, str], list[tuple[Range, Range]]] = field(default_factory=dict)

    def allow_all(self, pod: int, peers: Iterable[Range]) -> None:
        self.any_port.setdefault(pod, []).extend(peers)

    def allow(self, pod: int, protocol: str, peers: Iterable[Range], ports: Range) -> None:
        self.ports.setdefault((pod, protocol), []).extend((p, ports) for p in peers)


@dataclass
class Model:
    ingress: Direction = field(default_factory=Direction)
    egress: Direction = field(default_factory=Direction)


# -- peers -----------------------------------------------------------------------------------------
def block_ranges(block: Obj) -> list[Range]:
    """An ipBlock as disjoint address ranges: its CIDR less its exceptions (IPv6 blocks match
    nothing on this IPv4 network)."""
    try:
        cidr = ipaddress.ip_network(str(block.get("cidr")), strict=False)
    except ValueError:
        return []
    if not isinstance(cidr, ipaddress.IPv4Network):
        return []
    ranges = [(int(cidr.network_address), int(cidr.broadcast_address))]
    for text in block.get("except") or []:
        try:
            hole = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            continue
        if not isinstance(hole, ipaddress.IPv4Network):
            continue
        lo, hi = int(hole.network_address), int(hole.broadcast_address)
        ranges = [piece for a, b in ranges
                  for piece in ((a, min(b, lo - 1)), (max(a, hi + 1), b)) if piece[0] <= piece[1]]
    return merge(ranges)


@dataclass(frozen=True)
class Peers:
    """The peers of one rule: address ranges, and the Pods among them (for named ports)."""

    ranges: list[Range]
    pods: list[PolicyPod]


def rule_peers(peers: list[Obj] | None, policy_ns: str, pods: list[PolicyPod],
               namespaces: Mapping[str, Mapping[str, str]]) -> Peers:
    if not peers:  # every address
        return Peers([ALL_ADDRESSES], list(pods))
    ranges: list[Range] = []
    found: list[PolicyPod] = []
    for peer in peers:
        if peer.get("ipBlock") is not None:
            blocks = block_ranges(peer["ipBlock"])
            ranges += blocks
            found += [p for p in pods if any(lo <= p.ip <= hi for lo, hi in blocks)]
            continue
        ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
        for pod in pods:
            if ns_sel is not None:
                if not selector_matches(ns_sel, namespaces.get(pod.namespace, {})):
                    continue
            elif pod.namespace != policy_ns:
                continue
            if pod_sel is not None and not selector_matches(pod_sel, pod.labels):
                continue
            found.append(pod)
            ranges.append((pod.ip, pod.ip))
    return Peers(merge(ranges), found)


# -- ports -----------------------------------------------------------------------------------------
def numeric_ports(port: Obj) -> Range | None:
    """A port entry's numeric range (None: a named port)."""
    number = port.get("port")
    if number is None:
        return ALL_PORTS
    if isinstance(number, int):  # (validation keeps endPort >= port)
        return number, max(number, int(port.get("endPort") or number))
    return None


def _add_rule(direction: Direction, selected: list[PolicyPod], rule: Obj, peers: Peers,
              egress: bool) -> None:
    ports = rule.get("ports") or []
    for pod in selected:
        if not ports:
            direction.allow_all(pod.ip, peers.ranges)
            continue
        for port in ports:
            protocol = port.get("protocol") or "TCP"
            numbers = numeric_ports(port)
            if numbers is not None:
                direction.allow(pod.ip, protocol, peers.ranges, numbers)
                continue
            key = (str(port.get("port")), protocol)
            if not egress:  # resolved against the selected Pod, the destination
                if key in pod.ports:
                    number = pod.ports[key]
                    direction.allow(pod.ip, protocol, peers.ranges, (number, number))
                continue
            for peer in peers.pods:  # resolved against each destination Pod
                if key in peer.ports:
                    number = peer.ports[key]
                    direction.allow(pod.ip, protocol, [(peer.ip, peer.ip)], (number, number))


def selected_pods(policy: Obj, pods: list[PolicyPod]) -> list[PolicyPod]:
    """The Pods of the policy's namespace its podSelector matches (an empty one: all)."""
    ns = policy["metadata"].get("namespace") or "default"
    selector = (policy.get("spec") or {}).get("podSelector") or {}
    return [p for p in pods if p.namespace == ns and selector_matches(selector, p.labels)]


def build(policies: list[Obj], pods: list[PolicyPod],
          namespaces: Mapping[str, Mapping[str, str]]) -> Model:
    """The rule model of these policies over these Pods (namespaces: name -> labels)."""
    model = Model()
    for policy in sorted(policies, key=lambda p: (p["metadata"].get("namespace") or "",
                                                  p["metadata"]["name"])):
        spec: dict[str, Any] = policy.get("spec") or {}
        ns = policy["metadata"].get("namespace") or "default"
        selected = selected_pods(policy, pods)
        types = spec.get("policyTypes") or \
            (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
        for kind, rules_key, peers_key, direction in (
                ("Ingress", "ingress", "from", model.ingress),
                ("Egress", "egress", "to", model.egress)):
            if kind not in types:
                continue
            direction.isolated.update(p.ip for p in selected)
            for rule in spec.get(rules_key) or []:
                peers = rule_peers(rule.get(peers_key), ns, pods, namespaces)
                _add_rule(direction, selected, rule, peers, kind == "Egress")
    return model


# -- disjoint elements -----------------------------------------------------------------------------
def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted disjoint ranges covering the same values (adjacent ones joined)."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def disjoint(rects: Iterable[tuple[Range, Range]]) -> list[tuple[Range, Range]]:
    """Rectangles (peer range x port range) as disjoint ones covering the same pairs: the peer
    axis cut where any rectangle starts or ends, the ports of each piece merged, equal
    neighbours joined."""
    rects = list(rects)
    by_ports: dict[Range, list[Range]] = {}
    for peer, span in rects:
        by_ports.setdefault(span, []).append(peer)
    spans = sorted(by_ports)
    if all(a[1] < b[0] for a, b in zip(spans, spans[1:])):  # port ranges apart: no cutting
        return [(peer, p) for p in spans for peer in merge(by_ports[p])]
    cuts = sorted({lo for (lo, _), _ in rects} | {hi + 1 for (_, hi), _ in rects})
    out: list[tuple[Range, Range]] = []
    previous: tuple[Range, list[Range]] | None = None
    for start, end in zip(cuts, cuts[1:]):
        ports = merge(p for (lo, hi), p in rects if lo <= start and end - 1 <= hi)
        if not ports:
            previous = None
            continue
        if previous is not None and previous[1] == ports and previous[0][1] + 1 == start:
            out = [r for r in out if r[0] != previous[0]]
            span = (previous[0][0], end - 1)
        else:
            span = (start, end - 1)
        out += [(span, p) for p in ports]
        previous = (span, ports)
    return out
