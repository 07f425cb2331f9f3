"""NetworkPolicy enforcement in nftables: one table of the node's own, `podhost_np_<hash of
its root>`, kept per Pod in verdict maps, chains and sets, so that neither the per-packet cost
nor the cost of a change grows with the number of policies or Pods:

    forward (after the Services' DNAT, so a Service is judged by the Pod behind it):
        ct state established,related accept        replies of allowed connections
        ip saddr vmap @egress-pods                  isolated Pod -> jump e-<its address>
        ip daddr vmap @ingress-pods                 isolated Pod -> jump i-<its address>
    i-0af40007 (the Pod 10.244.0.7, ingress):
        ip saddr 10.244.0.7 return                  itself through a Service (hairpin)
        ip saddr @i-0af40007-any return             peers of rules without ports
        ip saddr . meta l4proto . th dport @i-0af40007-ports return
        drop
    e-0af40007 (egress): the same with ip daddr

The sets hold the rule model of `network/policy.py` (peer range [. protocol . port range]).
The first sync writes the whole table in one `nft -f` transaction (replacing what an earlier
run left); later ones rewrite, in one transaction, only the chains and sets of the Pods whose
rules changed. Only forwarded traffic is judged: the node itself (probes, kubelet,
`kubectl port-forward`, the cluster DNS it serves) always reaches its Pods and is reached by
them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podhost.network import NetworkError
from podhost.network.policy import Direction, Model, Range, disjoint, merge

REGISTRY = Path("/run/podhost/netpol")  # one file per table: the node root that owns it
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
HOOK = "type filter hook forward priority filter; policy accept;"
WAYS = {"ingress": ("i", "daddr", "saddr"), "egress": ("e", "saddr", "daddr")}


def table_name(owner: str) -> str:
    return "podhost_np_" + hashlib.sha256(owner.encode()).hexdigest()[:10]


def _addr(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _span(r: Range) -> str:
    lo, hi = r
    return _addr(lo) if lo == hi else f"{_addr(lo)}-{_addr(hi)}"


def _port_span(r: Range) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


@dataclass(frozen=True)
class PodRules:
    """What one isolated Pod takes (ingress) or sends (egress): its chain and two sets."""

    way: str  # ingress or egress
    pod: str  # its address
    any_port: tuple[str, ...]  # peer ranges of rules without ports
    ports: tuple[str, ...]  # peer range . protocol . port range, disjoint

    @property
    def chain(self) -> str:
        return f"{WAYS[self.way][0]}-{int(ipaddress.IPv4Address(self.pod)):08x}"

    def declare(self, t: str) -> list[str]:
        """Its chain and sets, made with their elements and rules (pure)."""
        c, peer = self.chain, WAYS[self.way][2]
        lines = [f"add chain ip {t} {c}",
                 f"add set ip {t} {c}-any {{ type ipv4_addr; flags interval; }}",
                 f"add set ip {t} {c}-ports {{ type ipv4_addr . inet_proto . inet_service; "
                 "flags interval; }"]
        if self.any_port:
            lines.append(f"add element ip {t} {c}-any {{ {', '.join(self.any_port)} }}")
        if self.ports:
            lines.append(f"add element ip {t} {c}-ports {{ {', '.join(self.ports)} }}")
        return lines + [f"add rule ip {t} {c} ip {peer} {self.pod} return",  # hairpin
                        f"add rule ip {t} {c} ip {peer} @{c}-any return",
                        f"add rule ip {t} {c} ip {peer} . meta l4proto . th dport @{c}-ports "
                        "return",
                        f"add rule ip {t} {c} drop"]

    def undeclare(self, t: str) -> list[str]:
        """Its chain and sets go (after its map element, or when they are made anew)."""
        c = self.chain
        return [f"flush chain ip {t} {c}", f"delete set ip {t} {c}-any",
                f"delete set ip {t} {c}-ports"]


def pod_rules(model: Model, protocols: tuple[str, ...] = ("TCP", "UDP", "SCTP")
              ) -> dict[str, PodRules]:
    """Every isolated Pod's rules by chain name (pure); ports of protocols the kernel lacks are
    left out."""
    out = {}
    for way, d in (("ingress", model.ingress), ("egress", model.egress)):
        for rules in _direction(way, d, protocols):
            out[rules.chain] = rules
    return out


def _direction(way: str, d: Direction, protocols: tuple[str, ...]) -> list[PodRules]:
    out = []
    for pod in sorted(d.isolated):
        ports = []
        for protocol in protocols:
            ports += [f"{_span(peer)} . {PROTOCOLS[protocol]} . {_port_span(p)}"
                      for peer, p in disjoint(d.ports.get((pod, protocol), []))]
        any_port = tuple(_span(r) for r in merge(d.any_port.get(pod, [])))
        out.append(PodRules(way, _addr(pod), any_port, tuple(ports)))
    return out


def _map_element(rules: PodRules) -> str:
    return f"{rules.pod} : jump {rules.chain}"


def full_script(t: str, rules: dict[str, PodRules]) -> str:
    """The whole table in one transaction, replacing whatever the table held (pure)."""
    lines = [f"table ip {t} {{ }}", f"delete table ip {t}", f"table ip {t} {{",
             "  map ingress-pods { type ipv4_addr : verdict; }",
             "  map egress-pods { type ipv4_addr : verdict; }",
             f"  chain forward {{ {HOOK}",
             "    ct state established,related accept",
             "    ip saddr vmap @egress-pods",
             "    ip daddr vmap @ingress-pods",
             "  }", "}"]
    for r in rules.values():
        lines += r.declare(t)
    for way in WAYS:
        mine = [_map_element(r) for r in rules.values() if r.way == way]
        if mine:
            lines.append(f"add element ip {t} {way}-pods {{ {', '.join(mine)} }}")
    return "\n".join(lines) + "\n"


def delta_script(t: str, old: dict[str, PodRules], new: dict[str, PodRules]) -> str:
    """One transaction from `old` to `new` that touches only the Pods whose rules changed
    (pure): a Pod no longer isolated loses its map element, chain and sets; a changed one gets
    its sets made anew; a newly isolated one gets them and its map element last."""
    lines = []
    for name, r in old.items():
        if name not in new:
            lines.append(f"delete element ip {t} {r.way}-pods {{ {r.pod} }}")
            lines += r.undeclare(t) + [f"delete chain ip {t} {name}"]
    for name, r in new.items():
        if name not in old:
            lines += r.declare(t)
            lines.append(f"add element ip {t} {r.way}-pods {{ {_map_element(r)} }}")
        elif old[name] != r:
            lines += old[name].undeclare(t)
            lines += [line for line in r.declare(t) if not line.startswith("add chain")]
    return "\n".join(lines) + "\n" if lines else ""


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
        self.applied: dict[str, PodRules] | None = None
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
        """Make the table enforce `model`; False when nothing changed. The first sync writes
        the whole table (taking over what an earlier run left), later ones the Pods whose
        rules changed; a failed change is retried as a whole table."""
        new = pod_rules(model, self.protocols)
        if new == self.applied:
            return False
        try:
            if self.applied is None:
                raise NetworkError("first sync")
            _nft(delta_script(self.table, self.applied, new))
        except NetworkError:
            _nft(full_script(self.table, new))
        self.applied = new
        return True

    def remove(self) -> None:
        subprocess.run(["nft", "delete", "table", "ip", self.table], capture_output=True)
        self.applied = None

    def forget(self) -> None:
        """At clean-up: the table and its registry entry go."""
        self.remove()
        (self.registry / self.table).unlink(missing_ok=True)
