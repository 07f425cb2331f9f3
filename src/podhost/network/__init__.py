"""The Pod network: every Pod gets an IP on a Linux bridge of the node, as with the CNI
`bridge` and `host-local` plugins that kind and most single-node clusters use.

- `ipam`: host-local address allocation, one file per reserved address.
- `bridge`: the node side (the bridge, its gateway address, masquerading, attaching veths).
- `PodInterface`: what one Pod gets (address, gateway, the names of its veth pair); the
  sandbox applies it inside the Pod's network namespace (`runtime/sandbox.py`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

#: The interface a Pod sees, as with CNI's bridge plugin.
POD_IFNAME = "eth0"


class NetworkError(Exception):
    """The Pod network could not be set up, or an address could not be given out."""


@dataclass(frozen=True)
class PodInterface:
    """One Pod's end of the network: eth0 with `ip`/`prefix_len`, default route via `gateway`,
    and the host end `host_ifname` enslaved to the node's bridge."""

    ip: str
    prefix_len: int
    gateway: str
    host_ifname: str

    def ip_batch(self, host_pid: int) -> str:
        """`ip -batch` commands run inside the Pod's network namespace (pure).

        The veth pair is made from inside, its host end moved into the namespace of
        `host_pid` (the node process) in the same request.
        """
        return (f"link add {POD_IFNAME} type veth peer name {self.host_ifname} netns {host_pid}\n"
                f"addr add {self.ip}/{self.prefix_len} dev {POD_IFNAME}\n"
                f"link set {POD_IFNAME} up\n"
                f"route add default via {self.gateway} dev {POD_IFNAME}\n")


def host_ifname(uid: str) -> str:
    """The host end of a Pod's veth pair: stable for the Pod, at most 15 characters."""
    return "veth" + hashlib.sha256(uid.encode()).hexdigest()[:11]


def parse_cidr(text: str) -> ipaddress.IPv4Network:
    """A Pod CIDR: IPv4, at least 4 addresses (network, gateway, one Pod, broadcast)."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise NetworkError(f"invalid Pod CIDR {text!r}: {e}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise NetworkError(f"invalid Pod CIDR {text!r}: only IPv4 is supported")
    if net.prefixlen > 30:
        raise NetworkError(f"invalid Pod CIDR {text!r}: the prefix must be /30 or shorter")
    return net
