"""Cluster DNS: names answered as CoreDNS's kubernetes plugin answers them (the Kubernetes DNS
specification), with dnspython for the wire format; other names forwarded to the host's
resolvers.

- `<svc>.<ns>.svc.<domain>`: A with the ClusterIP; a headless Service's ready endpoints; an
  ExternalName Service's CNAME;
- `<hostname>.<svc>.<ns>.svc.<domain>` (or the dashed IP) for each endpoint of a headless
  Service (StatefulSet Pods), `<a-b-c-d>.<ns>.pod.<domain>` (`pods insecure`);
- SRV `_<port>._<proto>.<svc>.<ns>.svc.<domain>` for named ports, PTR for ClusterIPs and
  headless endpoints;
- a name in the domain that does not exist: NXDOMAIN with the zone's SOA (NOERROR with the
  SOA when the name exists without records of the asked type).

`answer` is pure (tested without sockets); `DnsServer` serves UDP and TCP on one address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset

log = logging.getLogger("podhost.dns")

TTL = 5
MAX_CACHED = 10000
SOA_TTL = 30


@dataclass(frozen=True)
class DnsPort:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class DnsEndpoint:
    ip: str
    hostname: str = ""
    ready: bool = True


@dataclass(frozen=True)
class DnsService:
    name: str
    namespace: str
    cluster_ip: str = ""  # "" or "None" for headless
    external_name: str = ""
    ports: tuple[DnsPort, ...] = ()
    endpoints: tuple[DnsEndpoint, ...] = ()
    publish_not_ready: bool = False

    @property
    def headless(self) -> bool:
        return self.cluster_ip in ("", "None") and not self.external_name

    def addresses(self) -> list[DnsEndpoint]:
        return [e for e in self.endpoints if e.ready or self.publish_not_ready]


@dataclass
class Records:
    """What DNS knows of the cluster, rebuilt whenever Services or EndpointSlices change."""

    domain: str = "cluster.local"
    services: dict[tuple[str, str], DnsService] = field(default_factory=dict)
    reverse: dict[str, str] = field(default_factory=dict)  # IP -> FQDN
    # query wire (without its ID) -> reply wire (without its ID), for these records only
    replies: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def build(cls, services: Iterable[DnsService], domain: str = "cluster.local") -> Records:
        r = cls(domain)
        for svc in services:
            r.services[(svc.namespace, svc.name)] = svc
            fqdn = f"{svc.name}.{svc.namespace}.svc.{domain}."
            if svc.cluster_ip and svc.cluster_ip != "None":
                r.reverse[svc.cluster_ip] = fqdn
            elif svc.headless:
                for ep in svc.addresses():
                    if ep.hostname:
                        r.reverse.setdefault(ep.ip, f"{ep.hostname}.{fqdn}")
        return r


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


def _soa(domain: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(f"{domain}.", SOA_TTL, "IN", "SOA",
                               f"ns.dns.{domain}. hostmaster.{domain}. 1 7200 1800 86400 "
                               f"{SOA_TTL}")


def _a(name: str, ips: Iterable[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, TTL, "IN", "A", list(ips))


def _service_records(svc: DnsService, qname: str, qtype: int, records: Records
                     ) -> list[dns.rrset.RRset]:
    if svc.external_name:
        target = svc.external_name.rstrip(".") + "."
        return [dns.rrset.from_text(qname, TTL, "IN", "CNAME", target)]
    if qtype not in (dns.rdatatype.A, dns.rdatatype.ANY):
        return []
    if not svc.headless:
        return [_a(qname, [svc.cluster_ip])]
    ips = [e.ip for e in svc.addresses()]
    return [_a(qname, ips)] if ips else []


def _srv(svc: DnsService, qname: str, port_name: str, proto: str, records: Records
         ) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]:
    fqdn = f"{svc.name}.{svc.namespace}.svc.{records.domain}."
    ports = [p for p in svc.ports if (not port_name or p.name == port_name)
             and (not proto or p.protocol.lower() == proto) and p.name]
    answers, extra = [], []
    for p in ports:
        if not svc.headless:
            answers.append(f"0 100 {p.port} {fqdn}")
            extra.append(_a(fqdn, [svc.cluster_ip]))
            continue
        for ep in svc.addresses():
            target = f"{ep.hostname or _dashed(ep.ip)}.{fqdn}"
            answers.append(f"0 {100 // max(1, len(svc.addresses()))} {p.port} {target}")
            extra.append(_a(target, [ep.ip]))
    if not answers:
        return [], []
    return [dns.rrset.from_text_list(qname, TTL, "IN", "SRV", answers)], extra


def _lookup(labels: list[str], qname: str, qtype: int, records: Records
            ) -> tuple[bool, list[dns.rrset.RRset], list[dns.rrset.RRset]]:
    """(name exists, answers, additional) for a name under the domain, labels before it."""
    if len(labels) >= 2 and labels[-1] == "pod":  # <a-b-c-d>.<ns>.pod
        if len(labels) != 3:
            return len(labels) == 2, [], []
        try:
            ip = str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return False, [], []
        return True, [_a(qname, [ip])] if qtype in (dns.rdatatype.A, dns.rdatatype.ANY) \
            else [], []
    if not labels or labels[-1] != "svc":
        return not labels, [], []
    rest = labels[:-1]
    if len(rest) <= 1:
        return True, [], []  # svc.<domain>, <ns>.svc.<domain>
    if len(rest) == 4 and rest[0].startswith("_") and rest[1].startswith("_"):
        svc = records.services.get((rest[3], rest[2]))
        if svc is None or qtype not in (dns.rdatatype.SRV, dns.rdatatype.ANY):
            return svc is not None, [], []
        answers, extra = _srv(svc, qname, rest[0][1:], rest[1][1:], records)
        return bool(answers), answers, extra
    if len(rest) == 2:
        svc = records.services.get((rest[1], rest[0]))
        if svc is None:
            return False, [], []
        if qtype == dns.rdatatype.SRV:
            answers, extra = _srv(svc, qname, "", "", records)
            return True, answers, extra
        return True, _service_records(svc, qname, qtype, records), []
    if len(rest) == 3:
        svc = records.services.get((rest[2], rest[1]))
        if svc is None or not svc.headless:
            return False, [], []
        found = [e for e in svc.addresses() if (e.hostname or _dashed(e.ip)) == rest[0]]
        if not found:
            return False, [], []
        ok = qtype in (dns.rdatatype.A, dns.rdatatype.ANY)
        return True, [_a(qname, [e.ip for e in found])] if ok else [], []
    return False, [], []


def answer(query: dns.message.Message, records: Records) -> dns.message.Message | None:
    """The reply to a query about the cluster, or None when the name is not ours (forward)."""
    if not query.question:
        return None
    q = query.question[0]
    qname = q.name.to_text().lower()
    domain = records.domain.lower()
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if q.rdtype == dns.rdatatype.PTR and qname.endswith(".in-addr.arpa."):
        try:
            ip = dns.reversename.to_address(q.name)
        except (dns.exception.SyntaxError, ValueError):
            return None
        target = records.reverse.get(ip)
        if target is None:
            return None
        response.answer.append(dns.rrset.from_text(qname, TTL, "IN", "PTR", target))
        return response
    if qname != f"{domain}." and not qname.endswith(f".{domain}."):
        return None
    labels = qname[:-len(domain) - 2].split(".") if qname != f"{domain}." else []
    exists, answers, extra = _lookup([x for x in labels if x], qname, q.rdtype, records)
    if not exists:
        response.set_rcode(dns.rcode.NXDOMAIN)
    if answers:
        response.answer.extend(answers)
        response.additional.extend(extra)
    else:
        response.authority.append(_soa(domain))
    return response


def host_nameservers(text: str, exclude: Iterable[str] = ()) -> list[str]:
    """The nameservers of a resolv.conf text (the ones that would loop back left out)."""
    skip = set(exclude)
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in skip:
            out.append(parts[1])
    return out


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.server.local_reply(data)
        if reply is not None:
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        self.server.spawn(self._forward(data, addr))

    async def _forward(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self.server.forward(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """UDP and TCP on (`address`, `port`); `records` is replaced as the cluster changes."""

    def __init__(self, address: str, port: int = 0, upstreams: list[str] | None = None,
                 records: Records | None = None) -> None:
        self.address, self.port = address, port
        self.upstreams = upstreams or []
        self.records = records or Records()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen (one port number for both UDP and TCP); returns the port."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            transport, _p = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.address, self.port))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.address, port)
            except OSError:
                transport.close()
                if self.port:
                    raise
                continue
            self._udp, self.port = transport, port
            return int(port)
        raise OSError(f"no free port for DNS on {self.address}")

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in self._tasks:
            task.cancel()

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local_reply(self, data: bytes, tcp: bool = False) -> bytes | None:
        """The wire reply for a cluster name, or None to forward. Over UDP a reply larger
        than the client takes (512 bytes, or its EDNS size) is truncated (TC): the client asks
        again over TCP. Replies are kept per query (less its ID) until the records change: a
        repeated lookup costs a dict access."""
        records = self.records
        key = (b"T" if tcp else b"U") + data[2:]
        cached = records.replies.get(key)
        if cached is not None:
            return data[:2] + cached
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        reply = answer(query, records)
        if reply is None:
            return None
        limit = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        try:
            wire = reply.to_wire(max_size=limit)
        except dns.exception.TooBig:
            reply.answer.clear()
            reply.additional.clear()
            reply.flags |= dns.flags.TC
            wire = reply.to_wire()
        if len(records.replies) < MAX_CACHED:
            records.replies[key] = wire[2:]
        return wire

    async def forward(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        for upstream in self.upstreams:
            with contextlib.suppress(dns.exception.DNSException, OSError):
                reply = await dns.asyncquery.udp(query, upstream, timeout=2.0)
                return reply.to_wire()
        failure = dns.message.make_response(query)
        failure.set_rcode(dns.rcode.SERVFAIL)
        return failure.to_wire()

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                data = await reader.readexactly(size)
                reply = self.local_reply(data, tcp=True)
                if reply is None:
                    reply = await self.forward(data)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
