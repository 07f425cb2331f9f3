"""The node side of the Pod network: a Linux bridge holding the gateway address, the host
ends of the Pods' veth pairs, and masquerading of what Pods send beyond the Pod CIDR (what
CNI's `bridge` plugin with `isGateway` and `ipMasq` sets up).

The bridge and its address are made once when the node starts (`ensure`); each Pod then costs
one `ip -batch` inside its namespace (`runtime/sandbox.py`) and two ioctls here (`attach`).
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import logging
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

from podhost.network import NetworkError, PodInterface, host_ifname, parse_cidr
from podhost.network.hostports import HostPorts
from podhost.network.ipam import Allocator

log = logging.getLogger("podhost.network")

DEFAULT_CIDR = "10.244.0.0/16"
DEFAULT_BRIDGE = "podhost0"
STATE_DIR = Path("/run/podhost/networks")

SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCBRADDIF = 0x8913, 0x8914, 0x89A2
IFF_UP = 0x1


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise NetworkError("the `ip` command (iproute2) is not installed") from None
    if check and done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _set_up(sock: socket.socket, ifname: str) -> None:
    request = struct.pack("16sH14x", ifname.encode(), 0)
    flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
    fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS,
                struct.pack("16sH14x", ifname.encode(), flags | IFF_UP))


def overlapping_routes(routes: list[dict[str, Any]], cidr: ipaddress.IPv4Network,
                       bridge: str) -> list[str]:
    """Routes (from `ip -j route`) of other interfaces that overlap the Pod CIDR (pure)."""
    out = []
    for route in routes:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst in ("default", "") or dev == bridge:
            continue
        with_prefix = dst if "/" in dst else f"{dst}/32"
        try:
            net = ipaddress.ip_network(with_prefix, strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network) and net.overlaps(cidr):
            out.append(f"{dst} dev {dev}")
    return out


def default_gateway(route_table: str) -> str | None:
    """The IPv4 default gateway in /proc/net/route's text (pure)."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 0x2:
            return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


def node_ip() -> str:
    """The node's address, as kubelet picks it without --node-ip: the one the default route
    leaves from (found by connecting a UDP socket to the gateway: nothing is sent);
    127.0.0.1 when there is no default route."""
    try:
        gateway = default_gateway(Path("/proc/net/route").read_text())
    except OSError:
        gateway = None
    if gateway is None:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((gateway, 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def masquerade_rules(table: str, cidr: ipaddress.IPv4Network) -> str:
    """An nft script that (re)creates the node's masquerading table (pure, idempotent)."""
    return (f"table ip {table}\n"
            f"delete table ip {table}\n"
            f"table ip {table} {{\n"
            f"  chain postrouting {{\n"
            f"    type nat hook postrouting priority srcnat; policy accept;\n"
            f"    ip saddr {cidr} ip daddr != {cidr} masquerade\n"
            f"  }}\n"
            f"}}\n")


class PodNetwork:
    """A node's Pod network: addresses from `cidr` on `bridge`, gateway the first address."""

    def __init__(self, cidr: str, owner: str, *, bridge: str = DEFAULT_BRIDGE,
                 state_dir: Path = STATE_DIR) -> None:
        self.cidr = parse_cidr(cidr)
        self.bridge = bridge
        self.gateway = str(self.cidr.network_address + 1)
        self.ipam = Allocator(state_dir / str(self.cidr).replace("/", "_"), self.cidr, owner)
        self.host_ports = HostPorts(owner, self.cidr, bridge, state_dir.parent / "hostports")

    # -- node start ------------------------------------------------------------------------
    def ensure(self) -> None:
        """Make the bridge with the gateway address, up; enable forwarding and masquerading."""
        routes = json.loads(_ip("-j", "route", "show").stdout or "[]")
        if clash := overlapping_routes(routes, self.cidr, self.bridge):
            raise NetworkError(f"the Pod CIDR {self.cidr} overlaps the host's routes "
                               f"({', '.join(clash)}); choose another with --pod-cidr")
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            done = _ip("link", "add", self.bridge, "type", "bridge", check=False)
            if done.returncode != 0 and "exists" not in done.stderr:
                raise NetworkError(f"cannot create bridge {self.bridge}: "
                                   f"{done.stderr.strip()}")
        gateway = f"{self.gateway}/{self.cidr.prefixlen}"
        addrs = json.loads(_ip("-j", "addr", "show", "dev", self.bridge).stdout or "[]")
        present = {f"{a['local']}/{a['prefixlen']}" for link in addrs
                   for a in link.get("addr_info", []) if a.get("family") == "inet"}
        for other in present - {gateway}:  # another node's CIDR on the same bridge
            if ipaddress.ip_interface(other).network.overlaps(self.cidr):
                raise NetworkError(f"the Pod CIDR {self.cidr} overlaps {other} of another node "
                                   f"on {self.bridge}; use the same CIDR or one apart")
        if gateway not in present:
            done = _ip("addr", "add", gateway, "dev", self.bridge, check=False)
            if done.returncode != 0 and "exists" not in done.stderr:
                raise NetworkError(f"cannot give {self.bridge} the address {gateway}: "
                                   f"{done.stderr.strip()}")
        _ip("link", "set", self.bridge, "up")
        self._enable_forwarding()
        self.host_ports.reset()

    def _enable_forwarding(self) -> None:
        try:
            Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        except OSError as e:
            log.warning("cannot enable IP forwarding (%s): Pods reach only this node", e)
            return
        table = "podhost_" + str(self.cidr).replace(".", "_").replace("/", "_")
        try:
            done = subprocess.run(["nft", "-f", "-"], input=masquerade_rules(table, self.cidr),
                                  capture_output=True, text=True)
            error = done.stderr.strip() if done.returncode else ""
        except FileNotFoundError:
            error = "nft (nftables) is not installed"
        if error:
            log.warning("cannot masquerade the Pod CIDR (%s): Pods reach only this node and "
                        "its Pods", error)

    # -- per Pod -----------------------------------------------------------------------------
    def interface(self, uid: str) -> PodInterface:
        """Reserve the Pod's address; the host end of an earlier attempt is removed first."""
        name = host_ifname(uid)
        if Path(f"/sys/class/net/{name}").exists():
            _ip("link", "del", name, check=False)
        return PodInterface(ip=self.ipam.allocate(uid), prefix_len=self.cidr.prefixlen,
                            gateway=self.gateway, host_ifname=name)

    def attach(self, iface: PodInterface) -> None:
        """Enslave the host end of the Pod's veth pair to the bridge, in hairpin mode (a Pod
        reaches itself through a hostPort), and bring it up."""
        master = Path(f"/sys/class/net/{iface.host_ifname}/master")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                index = socket.if_nametoindex(iface.host_ifname)
                if not (master.exists() and master.resolve().name == self.bridge):
                    fcntl.ioctl(sock.fileno(), SIOCBRADDIF,
                                struct.pack("16si12x", self.bridge.encode(), index))
                Path(f"/sys/class/net/{iface.host_ifname}/brport/hairpin_mode").write_text("1")
                _set_up(sock, iface.host_ifname)
        except OSError as e:
            raise NetworkError(f"cannot attach {iface.host_ifname} to {self.bridge}: "
                               f"{e.strerror or e}") from None

    def reattach(self, uid: str) -> str | None:
        """For a sandbox that outlived the node: its address, with the host end of its veth
        pair on the bridge (a crash may have come between making and attaching it)."""
        ip = self.ipam.lookup(uid)
        name = host_ifname(uid)
        if ip and Path(f"/sys/class/net/{name}").exists():
            self.attach(PodInterface(ip, self.cidr.prefixlen, self.gateway, name))
        return ip

    def address_of(self, uid: str) -> str | None:
        return self.ipam.lookup(uid)

    def release(self, uid: str) -> None:
        self.ipam.release(uid)

    def release_unknown(self, known: set[str]) -> list[str]:
        return self.ipam.release_unknown(known)
