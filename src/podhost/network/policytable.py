"""NetworkPolicy enforcement in nftables: one table of the node's own, `podhost_np_<hash of
its root>`, whose per-packet cost does not grow with the number of policies or Pods:

    forward (after the Services' DNAT, so a Service is judged by the Pod behind it):
        ct state established,related accept       replies of allowed connections
        ip saddr @egress-isolated jump egress
        ip daddr @ingress-isolated jump ingress
    ingress: ip daddr . ip saddr @ingress-any return
             ip daddr . ip saddr . meta l4proto . th dport @ingress-ports return
             drop
    egress:  the same with ip saddr . ip daddr

The sets hold the rule model of `network/policy.py` (Pod address . peer range [. protocol .
port range]), rewritten whole in one `nft -f` transaction on every change. Only forwarded
traffic is judged: the node itself (probes, kubelet, `kubectl port-forward`, the cluster DNS it
serves) always reaches its Pods and is reached by them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from pathlib import Path

from podhost.network import NetworkError
from podhost.network.policy import Direction, Model, Range, disjoint, merge

REGISTRY = Path("/run/podhost/netpol")  # one file per table: the node root that owns it
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
HOOK = "type filter hook forward priority filter; policy accept;"


def table_name(owner: str) -> str:
    return "podhost_np_" + hashlib.sha256(owner.encode()).hexdigest()[:10]


def _addr(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _span(r: Range) -> str:
    lo, hi = r
    return _addr(lo) if lo == hi else f"{_addr(lo)}-{_addr(hi)}"


def _port_span(r: Range) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def direction_elements(d: Direction) -> tuple[list[str], list[str], list[str]]:
    """The isolated, any-port and port elements of one direction, sorted, disjoint (pure)."""
    isolated = [_addr(ip) for ip in sorted(d.isolated)]
    any_port = [f"{_addr(pod)} . {_span(r)}" for pod, ranges in sorted(d.any_port.items())
                if pod in d.isolated for r in merge(ranges)]
    ports = []
    for (pod, protocol), rects in sorted(d.ports.items()):
        if pod not in d.isolated or protocol not in PROTOCOLS:
            continue
        ports += [f"{_addr(pod)} . {_span(peer)} . {PROTOCOLS[protocol]} . {_port_span(p)}"
                  for peer, p in disjoint(rects)]
    return isolated, any_port, ports


SETS = [f"  set {way}-{name} {{ type {kind};{flags} }}" for way in ("ingress", "egress")
        for name, kind, flags in (
            ("isolated", "ipv4_addr", ""),
            ("any", "ipv4_addr . ipv4_addr", " flags interval;"),
            ("ports", "ipv4_addr . ipv4_addr . inet_proto . inet_service", " flags interval;"))]


def script(table: str, model: Model, protocols: tuple[str, ...] = ("TCP", "UDP", "SCTP")
           ) -> str:
    """One nft transaction that (re)declares the table, empties it and refills it (pure).

    `protocols`: those the kernel can match (`th dport` of SCTP needs its conntrack module);
    elements of the others are left out."""
    t = table
    lines = [f"table ip {t} {{"]
    lines += SETS
    lines += [f"  chain forward {{ {HOOK} }}", "  chain ingress { }", "  chain egress { }", "}",
              f"flush table ip {t}"]
    # sets are made anew rather than flushed: emptying a large interval set and refilling it
    # in one transaction costs the kernel far more than a new set
    lines += [f"delete set ip {t} {way}-{s}" for way in ("ingress", "egress")
              for s in ("isolated", "any", "ports")]
    lines.append(f"table ip {t} {{")
    lines += SETS
    lines += ["}", f"table ip {t} {{",
              "  chain forward {",
              "    ct state established,related accept",
              "    ip saddr @egress-isolated jump egress",
              "    ip daddr @ingress-isolated jump ingress",
              "  }"]
    for way, me, peer in (("ingress", "daddr", "saddr"), ("egress", "saddr", "daddr")):
        lines += [f"  chain {way} {{",
                  f"    ip {me} . ip {peer} @{way}-any return",
                  f"    ip {me} . ip {peer} . meta l4proto . th dport @{way}-ports return",
                  "    drop",
                  "  }"]
    lines.append("}")
    for name, items in elements(model, protocols).items():
        if items:
            lines.append(f"add element ip {t} {name} {{ {', '.join(items)} }}")
    return "\n".join(lines) + "\n"


def elements(model: Model, protocols: tuple[str, ...] = ("TCP", "UDP", "SCTP")
             ) -> dict[str, list[str]]:
    """The elements of each set (pure); ports of protocols the kernel lacks are left out."""
    allowed = {PROTOCOLS[p] for p in protocols}
    out = {}
    for way, d in (("ingress", model.ingress), ("egress", model.egress)):
        isolated, any_port, ports = direction_elements(d)
        out[f"{way}-isolated"] = isolated
        out[f"{way}-any"] = any_port
        out[f"{way}-ports"] = [e for e in ports if e.split(" . ")[2] in allowed]
    return out


def _nft(text: str) -> None:
    try:
        done = subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True)
    except FileNotFoundError:
        raise NetworkError("NetworkPolicies need nft (nftables), which is not installed") \
            from None
    if done.returncode != 0:
        raise NetworkError(f"nft: {done.stderr.strip()}")


def sctp_supported() -> bool:
    """SCTP ports can be matched when the kernel has SCTP (its conntrack follows)."""
    return Path("/proc/net/sctp").exists() or Path("/sys/module/sctp").exists()


class PolicyTable:
    """The node's NetworkPolicy table: taken over at start (it keeps enforcing across a
    `kill -9`; the first sync replaces its contents in one transaction), rewritten on every
    change, removed at clean-up. `/run/podhost/netpol/<table>` names the owning node root, so
    tables of nodes whose root is gone are removed by the next node that starts."""

    def __init__(self, owner: str, registry: Path = REGISTRY) -> None:
        self.owner, self.registry = owner, registry
        self.table = table_name(owner)
        self.applied: dict[str, list[str]] | None = None
        self.protocols = ("TCP", "UDP", "SCTP") if sctp_supported() else ("TCP", "UDP")

    def reset(self) -> None:
        self.applied = None
        if self.registry.is_dir():
            for entry in self.registry.iterdir():
                try:
                    owner = entry.read_text().strip()
                except OSError:
                    continue
                if owner.startswith("/") and not Path(owner).exists():
                    subprocess.run(["nft", "delete", "table", "ip", entry.name],
                                   capture_output=True)
                    entry.unlink(missing_ok=True)
        self.registry.mkdir(parents=True, exist_ok=True)
        (self.registry / self.table).write_text(self.owner + "\n")

    def apply(self, model: Model) -> bool:
        """Make the table enforce `model`; False when nothing changed. The whole table is
        rewritten in one transaction: deleting elements of a large concatenated interval set
        one by one costs the kernel more than making the set anew (measured in
        bench/netpol.py)."""
        new = elements(model, self.protocols)
        if new == self.applied:
            return False
        text = script(self.table, model, self.protocols)
        try:
            _nft(text)
        except NetworkError:
            if self.applied is not None:
                raise
            self.remove()  # a table an earlier version left, of another layout: afresh
            _nft(text)
        self.applied = new
        return True

    def remove(self) -> None:
        subprocess.run(["nft", "delete", "table", "ip", self.table], capture_output=True)
        self.applied = None

    def forget(self) -> None:
        """At clean-up: the table and its registry entry go."""
        self.remove()
        (self.registry / self.table).unlink(missing_ok=True)
