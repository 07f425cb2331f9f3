"""hostPort: traffic to a port of the node goes to a Pod, as CNI's `portmap` plugin does it.

One nftables table per node holds two maps, (protocol, port) → (Pod IP, container port) for
ports on every local address and (address, protocol, port) → (…) for a given `hostIP`, with
DNAT in prerouting (from outside and from Pods) and output (from the node itself, also to
127.0.0.1: the bridge gets `route_localnet`). Connections from 127.0.0.1 and from Pods to a
Pod (hairpin included: bridge ports are in hairpin mode) are masqueraded so that replies come
back the same way. The node rewrites both maps in one transaction whenever the set of mappings
changes, so the table always matches the Pods that have a sandbox.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from podhost.api.podutil import all_containers
from podhost.api.types import Obj
from podhost.network import NetworkError

REGISTRY = Path("/run/podhost/hostports")  # one file per table: the node root that owns it
UNSCHEDULABLE_PORTS = ("0/1 nodes are available: 1 node(s) didn't have free ports for the "
                       "requested pod ports. preemption: 0/1 nodes are available: 1 No "
                       "preemption victims found for incoming pod.")


@dataclass(frozen=True, order=True)
class PortMapping:
    protocol: str  # tcp, udp or sctp
    host_ip: str  # "" for every local address
    host_port: int
    pod_ip: str
    container_port: int


def _containers(pod: Obj) -> Iterable[Obj]:
    return all_containers(pod)


NFT_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def pod_port_mappings(pod: Obj, pod_ip: str) -> list[PortMapping]:
    """The mappings of a Pod at `pod_ip` (pure; kubelet's MakePortMappings). Every value that
    goes into an nft script is parsed here, whatever the API let through: no text from the
    Pod reaches nft unchecked. IPv6 host IPs are refused (the Pod network is IPv4)."""
    out = set()
    for c in _containers(pod):
        for p in c.get("ports") or []:
            if not p.get("hostPort"):
                continue
            protocol = NFT_PROTOCOLS.get(p.get("protocol") or "TCP")
            if protocol is None:
                raise NetworkError(f"hostPort: unsupported protocol {p.get('protocol')!r}")
            host_ip = p.get("hostIP") or ""
            if host_ip:
                try:
                    host_ip = str(ipaddress.IPv4Address(host_ip))
                except ValueError:
                    raise NetworkError(f"hostPort: hostIP {host_ip!r} is not an IPv4 "
                                       "address") from None
            out.add(PortMapping(protocol, "" if host_ip == "0.0.0.0" else host_ip,
                                int(p["hostPort"]), pod_ip, int(p["containerPort"])))
    return sorted(out)


def host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    """(protocol, hostIP or "", hostPort) of every port of the Pod that asks for one (pure)."""
    return {(m.protocol, m.host_ip, m.host_port) for m in pod_port_mappings(pod, "")}


def port_conflict(pod: Obj, others: Iterable[Obj]) -> bool:
    """The scheduler's NodePorts filter: does a port of `pod` clash with one of `others`?
    An empty hostIP (every address) clashes with any hostIP of the same protocol and port."""
    wanted = host_ports(pod)
    if not wanted:
        return False
    for other in others:
        for proto, ip, port in host_ports(other):
            for w_proto, w_ip, w_port in wanted:
                if (proto, port) == (w_proto, w_port) and (not ip or not w_ip or ip == w_ip):
                    return True
    return False


def table_name(owner: str) -> str:
    return "podhost_hp_" + hashlib.sha256(owner.encode()).hexdigest()[:10]


def table_script(table: str, cidr: ipaddress.IPv4Network, bridge: str) -> str:
    """nft script (re)creating the node's hostPort table, maps empty (pure). With
    route_localnet on the bridge, Pods could otherwise reach the node's 127.0.0.1 services:
    new connections from the bridge to 127.0.0.0/8 are dropped (what kube-proxy does for
    CVE-2020-8558)."""
    dnat = ("fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @addr\n"
            "    fib daddr type local dnat ip to meta l4proto . th dport map @any\n")
    return (f"table ip {table}\n"
            f"delete table ip {table}\n"
            f"table ip {table} {{\n"
            f"  map any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}\n"
            f"  map addr {{ type ipv4_addr . inet_proto . inet_service : "
            f"ipv4_addr . inet_service; }}\n"
            f"  chain prerouting {{\n"
            f"    type nat hook prerouting priority dstnat; policy accept;\n"
            f"    {dnat}"
            f"  }}\n"
            f"  chain output {{\n"
            f"    type nat hook output priority -100; policy accept;\n"
            f"    {dnat}"
            f"  }}\n"
            f"  chain input {{\n"
            f"    type filter hook input priority filter; policy accept;\n"
            f"    iifname \"{bridge}\" ip daddr 127.0.0.0/8 ct state != {{ established, related }} "
            f"drop\n"
            f"  }}\n"
            f"  chain postrouting {{\n"
            f"    type nat hook postrouting priority srcnat; policy accept;\n"
            f"    ip saddr 127.0.0.0/8 ip daddr {cidr} masquerade\n"
            f"    ip saddr {cidr} ip daddr {cidr} ct status dnat masquerade\n"
            f"  }}\n"
            f"}}\n")


def elements_script(table: str, mappings: Iterable[PortMapping]) -> str:
    """nft script replacing both maps' elements with `mappings` (pure)."""
    lines = [f"flush map ip {table} any", f"flush map ip {table} addr"]
    for m in mappings:
        target = f"{m.pod_ip} . {m.container_port}"
        if m.host_ip:
            lines.append(f"add element ip {table} addr {{ {m.host_ip} . {m.protocol} . "
                         f"{m.host_port} : {target} }}")
        else:
            lines.append(f"add element ip {table} any {{ {m.protocol} . {m.host_port} : "
                         f"{target} }}")
    return "\n".join(lines) + "\n"


def _nft(script: str) -> None:
    try:
        done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    except FileNotFoundError:
        raise NetworkError("hostPort needs nft (nftables), which is not installed") from None
    if done.returncode != 0:
        raise NetworkError(f"nft: {done.stderr.strip()}")


def table_gone(error: NetworkError) -> bool:
    """nft's answer about a table that does not exist (any more)."""
    return "No such file or directory" in str(error)


class HostPorts:
    """The node's hostPort table; made on the first mapping, rewritten on every change."""

    def __init__(self, owner: str, cidr: ipaddress.IPv4Network, bridge: str,
                 registry: Path = REGISTRY) -> None:
        self.owner, self.cidr, self.bridge = owner, cidr, bridge
        self.table = table_name(owner)
        self.registry = registry
        self.applied: list[PortMapping] | None = None  # None: table not made by this process

    def reset(self) -> None:
        """At node start: drop what an earlier run left (it is rebuilt from the Pods), and
        the tables of nodes whose root directory is gone."""
        if not self.registry.is_dir():
            return
        for entry in self.registry.iterdir():
            try:
                owner = entry.read_text().strip()
            except OSError:
                continue
            if owner == self.owner or (owner.startswith("/") and not Path(owner).exists()):
                subprocess.run(["nft", "delete", "table", "ip", entry.name],
                               capture_output=True)
                entry.unlink(missing_ok=True)

    def apply(self, mappings: list[PortMapping]) -> None:
        """Make the table hold exactly `mappings`."""
        if mappings == (self.applied or []):
            return
        if self.applied is None:
            self._make_table()
        try:
            _nft(elements_script(self.table, mappings))
        except NetworkError as e:
            if not table_gone(e):
                raise
            # removed behind the node's back (`nft flush ruleset`, a firewall reload): the
            # table is made again, empty, and filled
            self._make_table()
            _nft(elements_script(self.table, mappings))
        self.applied = list(mappings)

    def remove(self) -> None:
        """At a stop with no Pods left: the table and its registry entry go."""
        subprocess.run(["nft", "delete", "table", "ip", self.table], capture_output=True)
        (self.registry / self.table).unlink(missing_ok=True)
        self.applied = None

    def _make_table(self) -> None:
        self.registry.mkdir(parents=True, exist_ok=True)
        (self.registry / self.table).write_text(self.owner + "\n")
        _nft(table_script(self.table, self.cidr, self.bridge))
        try:  # 127.0.0.1 → a Pod: the bridge must route loopback sources
            Path(f"/proc/sys/net/ipv4/conf/{self.bridge}/route_localnet").write_text("1\n")
        except OSError as e:
            raise NetworkError(f"cannot enable route_localnet on {self.bridge}: {e}") from None
