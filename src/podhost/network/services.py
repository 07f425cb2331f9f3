"""The Service data plane in nftables, laid out as kube-proxy's nftables mode
(pkg/proxy/nftables/proxier.go) lays out its table, in one table of the node's own:

    nat-prerouting / nat-output ─▶ services: ClusterIP . proto . port  vmap ─▶ svc-<hash>
                                             (local address) proto . nodePort vmap ─▶ ext-<hash>
    ext-<hash>: mark for masquerade, goto svc-<hash>
    svc-<hash>: off-Pod-network sources marked for masquerade; sessionAffinity ClientIP
                (`ip saddr @aff-<ep>`); then `numgen random mod N` over the ready endpoints
    sep-<hash>: hairpin (the endpoint itself) marked; affinity recorded; DNAT to the endpoint
    nat-postrouting: masquerade what was marked
    filter input / forward / output (new connections):
        service-endpoints-check: a Service without ready endpoints is rejected (no hang)
        cluster-ips-check: other ports of a ClusterIP rejected, the rest of the range dropped
        (nothing for the service range ever leaves by the default route)
        input: new connections from the bridge to 127.0.0.0/8 dropped (route_localnet)

NodePorts are served on every local address, 127.0.0.1 included (the bridge gets
route_localnet, as for hostPort). The script is rendered whole from the Services and their
endpoints (pure, every value parsed first) and applied in one `nft -f` transaction that
flushes and refills the chains, so affinity sets survive a sync.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podhost.network import NetworkError

REGISTRY = Path("/run/podhost/services")  # one file per table: the node root that owns it
MASQ_MARK = "0x4000"
REJECT = "goto reject-chain"
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
BASE_CHAINS = {
    "nat-prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "nat-output": "type nat hook output priority -100; policy accept;",
    "nat-postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "filter-input": "type filter hook input priority filter; policy accept;",
    "filter-forward": "type filter hook forward priority filter; policy accept;",
    "filter-output": "type filter hook output priority filter; policy accept;",
}
FIXED_CHAINS = ("services", "mark-for-masquerade", "service-endpoints-check",
                "cluster-ips-check", "reject-chain")


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as the data plane needs it."""

    name: str  # namespace/service:port-name, for chain names and comments
    cluster_ip: str  # "" for none (headless, ExternalName)
    protocol: str  # TCP, UDP or SCTP
    port: int
    node_port: int = 0
    affinity_timeout: int = 0  # seconds of sessionAffinity ClientIP; 0 for none
    endpoints: tuple[tuple[str, int], ...] = ()  # ready endpoints (IP, port)
    local_port: bool = False  # LoadBalancer: `port` also on every local address (ServiceLB)


@dataclass(frozen=True)
class Layout:
    """Everything a sync renders, parsed: the table name and the node's ranges."""

    table: str
    service_cidr: ipaddress.IPv4Network
    pod_cidr: ipaddress.IPv4Network
    bridge: str
    masquerade_all: bool = False  # no bridge netfilter: replies would bypass conntrack


@dataclass
class Rendered:
    chains: dict[str, list[str]] = field(default_factory=dict)
    sets: dict[str, int] = field(default_factory=dict)  # affinity set -> timeout


def table_name(owner: str) -> str:
    return "podhost_svc_" + hashlib.sha256(owner.encode()).hexdigest()[:10]


def _hash(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16]


def _ip(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise NetworkError(f"not an IPv4 address: {value!r}") from None


def _port(value: int) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise NetworkError(f"port {value!r} out of range")
    return number


def _proto(value: str) -> str:
    try:
        return PROTOCOLS[value]
    except KeyError:
        raise NetworkError(f"unsupported protocol {value!r}") from None


def _svc_chain(r: Rendered, layout: Layout, sp: ServicePort, proto: str) -> str:
    chain = "svc-" + _hash(sp.name, proto, sp.port)
    rules = []
    if layout.masquerade_all:
        rules.append("jump mark-for-masquerade")
    else:
        rules.append(f"ip saddr != {layout.pod_cidr} jump mark-for-masquerade")
    targets = []
    for ip, port in sp.endpoints:
        ip, port = _ip(ip), _port(port)
        sep = "sep-" + _hash(sp.name, proto, sp.port, ip, port)
        targets.append(sep)
        sep_rules = [f"ip saddr {ip} jump mark-for-masquerade"]
        if sp.affinity_timeout:
            aff = "aff-" + _hash(sp.name, proto, sp.port, ip, port, sp.affinity_timeout)
            r.sets[aff] = int(sp.affinity_timeout)
            rules.append(f"ip saddr @{aff} goto {sep}")
            sep_rules.append(f"update @{aff} {{ ip saddr }}")
        sep_rules.append(f"meta l4proto {proto} dnat ip to {ip}:{port}")
        r.chains[sep] = sep_rules
    if len(targets) == 1:
        rules.append(f"goto {targets[0]}")
    else:
        arms = ", ".join(f"{i} : goto {t}" for i, t in enumerate(targets))
        rules.append(f"numgen random mod {len(targets)} vmap {{ {arms} }}")
    r.chains[chain] = rules
    return chain


def _claim(r: Rendered, layout: Layout, ports: Iterable[ServicePort]
           ) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """The verdict maps (ClusterIP . proto . port, and proto . port on local addresses) and
    the ClusterIPs; the first Service to claim a key keeps it (a LoadBalancer port that another
    already serves stays unserved, as ServiceLB leaves it pending)."""
    cluster: dict[str, str] = {}
    local: dict[str, str] = {}
    cluster_ips: set[str] = set()
    for sp in sorted(ports, key=lambda p: (p.name, p.protocol, p.port)):
        proto, port = _proto(sp.protocol), _port(sp.port)
        ip = _ip(sp.cluster_ip) if sp.cluster_ip else ""
        if ip:
            cluster_ips.add(ip)
        local_ports = [_port(sp.node_port)] if sp.node_port else []
        if sp.local_port:
            local_ports.append(port)
        verdict = ext = REJECT
        if sp.endpoints:
            chain = _svc_chain(r, layout, sp, proto)
            verdict = f"goto {chain}"
            if local_ports:
                name = "ext-" + _hash(sp.name, proto, sp.port)
                r.chains[name] = ["jump mark-for-masquerade", f"goto {chain}"]
                ext = f"goto {name}"
        if ip:
            cluster.setdefault(f"{ip} . {proto} . {port}", verdict)
        for p in local_ports:
            local.setdefault(f"{proto} . {p}", ext)
    return cluster, local, cluster_ips


def render(layout: Layout, ports: Iterable[ServicePort]) -> Rendered:
    """The chains and affinity sets for these Service ports (pure)."""
    r = Rendered()
    cluster, local, cluster_ips = _claim(r, layout, ports)
    cluster_map = [f"{k} : {v}" for k, v in cluster.items() if v != REJECT]
    node_map = [f"{k} : {v}" for k, v in local.items() if v != REJECT]
    no_ep_cluster = [f"{k} : {v}" for k, v in cluster.items() if v == REJECT]
    no_ep_node = [f"{k} : {v}" for k, v in local.items() if v == REJECT]
    services = []
    if cluster_map:
        services.append(f"ip daddr . meta l4proto . th dport vmap {{ {', '.join(cluster_map)} }}")
    if node_map:
        services.append("fib daddr type local meta l4proto . th dport vmap "
                        f"{{ {', '.join(node_map)} }}")
    checks = []
    if no_ep_cluster:
        checks.append(f"ip daddr . meta l4proto . th dport vmap {{ {', '.join(no_ep_cluster)} }}")
    if no_ep_node:
        checks.append("fib daddr type local meta l4proto . th dport vmap "
                      f"{{ {', '.join(no_ep_node)} }}")
    ips_check = [f"ip daddr {{ {', '.join(sorted(cluster_ips))} }} reject"] if cluster_ips \
        else []
    ips_check.append(f"ip daddr {layout.service_cidr} drop")
    new = "ct state new"
    r.chains.update({
        "nat-prerouting": ["jump services"],
        "nat-output": ["jump services"],
        "nat-postrouting": [f"meta mark & {MASQ_MARK} == 0 return",
                            f"meta mark set meta mark ^ {MASQ_MARK}", "masquerade"],
        "filter-input": [f"iifname \"{layout.bridge}\" ip daddr 127.0.0.0/8 ct state != "
                         "{ established, related } drop",
                         f"{new} jump service-endpoints-check"],
        "filter-forward": [f"{new} jump service-endpoints-check",
                           f"{new} jump cluster-ips-check"],
        "filter-output": [f"{new} jump service-endpoints-check",
                          f"{new} jump cluster-ips-check"],
        "services": services,
        "mark-for-masquerade": [f"meta mark set meta mark | {MASQ_MARK}"],
        "service-endpoints-check": checks,
        "cluster-ips-check": ips_check,
        "reject-chain": ["reject"],
    })
    return r


def script(layout: Layout, rendered: Rendered, previous: Rendered | None) -> str:
    """One nft transaction: declare, flush, drop what went, refill (pure)."""
    t = layout.table
    lines = [f"table ip {t} {{"]
    for name, timeout in sorted(rendered.sets.items()):
        lines.append(f"  set {name} {{ type ipv4_addr; flags dynamic,timeout; "
                     f"timeout {timeout}s; }}")
    for name in rendered.chains:
        hook = BASE_CHAINS.get(name, "")
        lines.append(f"  chain {name} {{ {hook} }}" if hook else f"  chain {name} {{ }}")
    lines.append("}")
    lines.append(f"flush table ip {t}")
    if previous is not None:
        lines += [f"delete chain ip {t} {c}" for c in previous.chains
                  if c not in rendered.chains]
        lines += [f"delete set ip {t} {s}" for s in previous.sets if s not in rendered.sets]
    lines.append(f"table ip {t} {{")
    for name, rules in rendered.chains.items():
        lines.append(f"  chain {name} {{")
        lines += [f"    {rule}" for rule in rules]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nft(text: str) -> None:
    try:
        done = subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True)
    except FileNotFoundError:
        raise NetworkError("Services need nft (nftables), which is not installed") from None
    if done.returncode != 0:
        raise NetworkError(f"nft: {done.stderr.strip()}")


def bridge_netfilter() -> bool:
    """Bridged Pod-to-Pod packets pass the ip hooks (needed to undo a Service's DNAT on the
    reply between two Pods of one bridge); enabled when the kernel has it."""
    path = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    try:
        if path.read_text().strip() != "1":
            path.write_text("1\n")
        return True
    except OSError:
        return False


class ServiceTable:
    """The node's Service table: reset at start, rewritten on every change, removed at
    clean-up. `/run/podhost/services/<table>` names the node root that owns each table, so
    the tables of nodes whose root is gone are removed by the next node that starts."""

    def __init__(self, layout: Layout, owner: str = "", registry: Path = REGISTRY) -> None:
        self.layout, self.owner, self.registry = layout, owner, registry
        self.applied: Rendered | None = None
        self.applied_ports: list[ServicePort] | None = None
        self.localnet = False

    def reset(self) -> None:
        """Take over what an earlier run left (its chains keep serving until the first sync
        replaces them in one transaction, so a restart has no gap), and remove the tables of
        nodes whose root directory no longer exists."""
        self.applied = _existing(self.layout.table)
        self.applied_ports = None
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
        if self.owner:
            self.registry.mkdir(parents=True, exist_ok=True)
            (self.registry / self.layout.table).write_text(self.owner + "\n")

    def apply(self, ports: Sequence[ServicePort]) -> bool:
        """Make the table serve exactly `ports`; False when nothing changed."""
        ports = sorted(ports, key=lambda p: (p.name, p.protocol, p.port))
        if ports == self.applied_ports:
            return False
        rendered = render(self.layout, ports)
        if not self.localnet:
            _route_localnet(self.layout.bridge)
            self.localnet = True
        try:
            _nft(script(self.layout, rendered, self.applied))
        except NetworkError:
            if self.applied_ports is not None:
                raise
            # the table an earlier run left does not take the new layout: start afresh
            self.remove()
            _nft(script(self.layout, rendered, None))
        self.applied, self.applied_ports = rendered, list(ports)
        return True

    def remove(self) -> None:
        subprocess.run(["nft", "delete", "table", "ip", self.layout.table], capture_output=True)
        self.applied = self.applied_ports = None

    def forget(self) -> None:
        """At clean-up: the table and its registry entry go."""
        self.remove()
        (self.registry / self.layout.table).unlink(missing_ok=True)


def _existing(table: str) -> Rendered | None:
    """The chains and sets of a table left by an earlier run (None: there is none)."""
    try:
        done = subprocess.run(["nft", "-j", "list", "table", "ip", table], capture_output=True,
                              text=True)
        items = json.loads(done.stdout)["nftables"] if done.returncode == 0 else None
    except (OSError, ValueError, KeyError):
        items = None
    if not items:
        return None
    found = Rendered()
    for item in items:
        if "chain" in item:
            found.chains[str(item["chain"]["name"])] = []
        elif "set" in item:
            found.sets[str(item["set"]["name"])] = 0
    return found


def _route_localnet(bridge: str) -> None:
    try:  # 127.0.0.1 → a Pod through a NodePort
        Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").write_text("1\n")
    except OSError as e:
        raise NetworkError(f"cannot enable route_localnet on {bridge}: {e}") from None
