"""Who on the node already listens on a hostPort. hostPort is DNAT (as CNI's portmap): a
process of the node listening on the same port stops getting the connections to the node's
addresses, silently. The node reports it as a Warning event on the Pod."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.network.hostports import pod_port_mappings

PROC_NET = Path("/proc/net")
LISTEN, UNCONNECTED = "0A", "07"  # TCP_LISTEN; a bound UDP socket (TCP_CLOSE)
REASON = "HostPortInUse"


def _address(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def parse(text: str, state: str) -> set[tuple[str, int]]:
    """(address, port) of the sockets in `state` in a /proc/net/{tcp,udp}[6] table (pure)."""
    out = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == state:
            hex_ip, hex_port = fields[1].split(":")
            out.add((_address(hex_ip), int(hex_port, 16)))
    return out


def listening(protocol: str, proc_net: Path = PROC_NET) -> set[tuple[str, int]]:
    """The node's listeners of `protocol` (tcp, udp)."""
    out: set[tuple[str, int]] = set()
    for table in (protocol, protocol + "6"):
        try:
            out |= parse((proc_net / table).read_text(), LISTEN if protocol == "tcp"
                         else UNCONNECTED)
        except OSError:
            continue
    return out


def shadowed(pod: Obj, proc_net: Path = PROC_NET) -> list[str]:
    """The Warning messages for the Pod's hostPorts that a process of the node listens on."""
    try:
        mappings = pod_port_mappings(pod, "")
    except NetworkError:
        return []
    out = []
    for m in mappings:
        if m.protocol not in ("tcp", "udp"):
            continue
        for address, port in sorted(listening(m.protocol, proc_net)):
            wildcard = address in ("0.0.0.0", "::")
            if port == m.host_port and (not m.host_ip or wildcard or address == m.host_ip):
                shown = f"[{address}]" if ":" in address else address
                out.append(f"hostPort {m.host_port}/{m.protocol.upper()}: a process of the node "
                           f"listens on {shown}:{port} too; connections to "
                           f"{m.host_ip or 'the node'}:{m.host_port} now go to this Pod, not "
                           "to that process")
                break
    return out
