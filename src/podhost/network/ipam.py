"""Host-local address allocation, the way CNI's `host-local` plugin does it.

Each reserved address is a file named after it in the network's directory, holding the Pod's
uid and the node (its root directory) that owns it; creating it with O_EXCL is the lock, so
several nodes on one machine can share a bridge. Addresses are handed out round robin after
the last one reserved (`last_reserved_ip`), so a freed address is not reused at once.

The directory lives under /run by default: reservations go with a reboot, as do the network
namespaces that held the addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
from pathlib import Path

from podhost.network import NetworkError

LAST_RESERVED = "last_reserved_ip"


class Allocator:
    def __init__(self, directory: Path, cidr: ipaddress.IPv4Network, owner: str) -> None:
        self.dir, self.cidr, self.owner = Path(directory), cidr, owner
        self.gateway = cidr.network_address + 1

    def _hosts(self) -> range:
        """Integer addresses that Pods may get: all hosts of the CIDR but the gateway."""
        first = int(self.cidr.network_address) + 2
        return range(first, int(self.cidr.broadcast_address))

    def reservations(self) -> dict[str, tuple[str, str]]:
        """{ip: (uid, owner)} of every reservation in the directory."""
        out: dict[str, tuple[str, str]] = {}
        if not self.dir.is_dir():
            return out
        for entry in self.dir.iterdir():
            if entry.name == LAST_RESERVED or entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                uid, _, owner = entry.read_text().partition("\n")
                out[entry.name] = (uid, owner.strip())
        return out

    def lookup(self, uid: str) -> str | None:
        """The address reserved for the Pod by this node, if any."""
        for ip, (holder, owner) in self.reservations().items():
            if holder == uid and owner == self.owner:
                return ip
        return None

    def allocate(self, uid: str) -> str:
        """Reserve an address for the Pod (the one it holds already, if it has one)."""
        if held := self.lookup(uid):
            return held
        self.dir.mkdir(parents=True, exist_ok=True)
        hosts = self._hosts()
        start = self._last_reserved()
        order = itertools.chain(range(start + 1, hosts.stop), range(hosts.start, start + 1)) \
            if start in hosts else iter(hosts)  # lazily: a /16 has 65,534 candidates
        # The reservation is written whole, then linked into place: link(2) fails if the
        # address is taken, and a crash never leaves an empty (ownerless) reservation.
        draft = self.dir / f".{uid}.{os.getpid()}"
        draft.write_text(f"{uid}\n{self.owner}\n")
        try:
            for value in order:
                ip = str(ipaddress.IPv4Address(value))
                try:
                    os.link(draft, self.dir / ip)
                except FileExistsError:
                    continue
                (self.dir / LAST_RESERVED).write_text(ip)
                return ip
        finally:
            draft.unlink(missing_ok=True)
        raise NetworkError(f"no address left in the Pod CIDR {self.cidr}")

    def _last_reserved(self) -> int:
        try:
            return int(ipaddress.IPv4Address((self.dir / LAST_RESERVED).read_text().strip()))
        except (OSError, ValueError):
            return -1

    def release(self, uid: str) -> None:
        """Free the Pod's address; idempotent."""
        for ip, (holder, owner) in self.reservations().items():
            if holder == uid and owner == self.owner:
                (self.dir / ip).unlink(missing_ok=True)

    def release_unknown(self, known: set[str]) -> list[str]:
        """Free this node's reservations of Pods not in `known`, and those of nodes whose
        root directory is gone; returns the addresses freed."""
        freed = []
        for ip, (holder, owner) in self.reservations().items():
            mine = owner == self.owner and holder not in known
            orphan = owner != self.owner and owner.startswith("/") and not Path(owner).exists()
            if mine or orphan:
                (self.dir / ip).unlink(missing_ok=True)
                freed.append(ip)
        return freed
