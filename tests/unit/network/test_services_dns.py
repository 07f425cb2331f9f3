"""The Service table's nft script and the cluster DNS answers (pure, no root)."""

from __future__ import annotations

import ipaddress

import dns.flags
import dns.message
import dns.rcode
import pytest

from podhost.network import NetworkError
from podhost.network.dns import DnsEndpoint, DnsPort, DnsService, Records, answer
from podhost.network.services import Layout, ServicePort, render, script

LAYOUT = Layout("podhost_svc_test", ipaddress.IPv4Network("10.96.0.0/12"),
                ipaddress.IPv4Network("10.244.0.0/16"), "podhost0")


def web(*endpoints: tuple[str, int], node_port: int = 0, affinity: int = 0) -> ServicePort:
    return ServicePort("default/web:http", "10.96.0.20", "TCP", 80, node_port, affinity,
                       tuple(endpoints))


def test_random_balancing_over_ready_endpoints_with_hairpin_and_masquerade() -> None:
    r = render(LAYOUT, [web(("10.244.0.2", 8080), ("10.244.0.3", 8080))])
    [svc] = [c for c in r.chains if c.startswith("svc-")]
    rules = r.chains[svc]
    assert rules[0] == "ip saddr != 10.244.0.0/16 jump mark-for-masquerade"
    assert rules[1].startswith("numgen random mod 2 vmap { 0 : goto sep-")
    seps = [c for c in r.chains if c.startswith("sep-")]
    assert sorted(r.chains[s][-1] for s in seps) == [
        "meta l4proto tcp dnat ip to 10.244.0.2:8080",
        "meta l4proto tcp dnat ip to 10.244.0.3:8080"]
    assert all(r.chains[s][0].startswith("ip saddr 10.244.0.") for s in seps)  # hairpin
    assert r.chains["services"] == [
        f"ip daddr . meta l4proto . th dport vmap {{ 10.96.0.20 . tcp . 80 : goto {svc} }}"]
    assert r.chains["cluster-ips-check"] == ["ip daddr { 10.96.0.20 } reject",
                                             "ip daddr 10.96.0.0/12 drop"]


def test_no_endpoints_reject_and_node_ports_on_local_addresses() -> None:
    r = render(LAYOUT, [web(node_port=30080), ServicePort("default/db:", "10.96.0.30", "UDP",
                                                          53, 0, 0, (("10.244.0.9", 53),)),
                        ServicePort("default/np:", "10.96.0.21", "TCP", 80, 30081, 0,
                                    (("10.244.0.2", 80),))])
    assert r.chains["service-endpoints-check"] == [
        "ip daddr . meta l4proto . th dport vmap { 10.96.0.20 . tcp . 80 : goto reject-chain }",
        "fib daddr type local meta l4proto . th dport vmap { tcp . 30080 : goto reject-chain }"]
    [ext] = [c for c in r.chains if c.startswith("ext-")]
    assert r.chains[ext][0] == "jump mark-for-masquerade"
    assert r.chains["services"][1] == ("fib daddr type local meta l4proto . th dport vmap "
                                       f"{{ tcp . 30081 : goto {ext} }}")


def test_session_affinity_uses_a_timed_set_per_endpoint() -> None:
    r = render(LAYOUT, [web(("10.244.0.2", 80), affinity=600)])
    [aff] = r.sets
    assert r.sets[aff] == 600
    [svc] = [c for c in r.chains if c.startswith("svc-")]
    [sep] = [c for c in r.chains if c.startswith("sep-")]
    assert r.chains[svc][1] == f"ip saddr @{aff} goto {sep}"
    assert f"update @{aff} {{ ip saddr }}" in r.chains[sep]


def test_the_script_flushes_and_drops_chains_that_went() -> None:
    before = render(LAYOUT, [web(("10.244.0.2", 80))])
    after = render(LAYOUT, [])
    text = script(LAYOUT, after, before)
    assert "flush table ip podhost_svc_test" in text
    assert [line for line in text.splitlines() if line.startswith("delete chain")] == sorted(
        f"delete chain ip podhost_svc_test {c}" for c in before.chains
        if c.startswith(("svc-", "sep-")))
    assert "type nat hook output priority -100; policy accept;" in text


def test_values_are_parsed_before_they_reach_nft() -> None:
    with pytest.raises(NetworkError):
        render(LAYOUT, [ServicePort("x", "10.96.0.1; drop", "TCP", 80, 0, 0, ())])
    with pytest.raises(NetworkError):
        render(LAYOUT, [ServicePort("x", "10.96.0.1", "ICMP", 80, 0, 0, ())])
    with pytest.raises(NetworkError):
        render(LAYOUT, [ServicePort("x", "10.96.0.1", "TCP", 70000, 0, 0, ())])


RECORDS = Records.build([
    DnsService("web", "default", "10.96.0.20", ports=(DnsPort("http", "TCP", 80),)),
    DnsService("db", "default", "None", ports=(DnsPort("pg", "TCP", 5432),), endpoints=(
        DnsEndpoint("10.244.0.5", "db-0"), DnsEndpoint("10.244.0.6", "db-1"),
        DnsEndpoint("10.244.0.7", "", ready=False))),
    DnsService("ext", "default", "", external_name="example.invalid"),
])


def ask(name: str, qtype: str = "A") -> dns.message.Message:
    reply = answer(dns.message.make_query(name, qtype), RECORDS)
    assert reply is not None
    return reply


def rdata(reply: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in reply.answer for rd in rrset)


def test_a_records_of_services_and_headless_pods() -> None:
    assert rdata(ask("web.default.svc.cluster.local")) == ["10.96.0.20"]
    assert rdata(ask("db.default.svc.cluster.local")) == ["10.244.0.5", "10.244.0.6"]
    assert rdata(ask("db-1.db.default.svc.cluster.local")) == ["10.244.0.6"]
    assert rdata(ask("10-1-2-3.default.pod.cluster.local")) == ["10.1.2.3"]
    assert rdata(ask("ext.default.svc.cluster.local")) == ["example.invalid."]


def test_srv_ptr_nxdomain_and_nodata() -> None:
    assert rdata(ask("_http._tcp.web.default.svc.cluster.local", "SRV")) == [
        "0 100 80 web.default.svc.cluster.local."]
    assert rdata(ask("_pg._tcp.db.default.svc.cluster.local", "SRV")) == [
        "0 50 5432 db-0.db.default.svc.cluster.local.",
        "0 50 5432 db-1.db.default.svc.cluster.local."]
    assert rdata(ask("20.0.96.10.in-addr.arpa.", "PTR")) == ["web.default.svc.cluster.local."]
    assert rdata(ask("5.0.244.10.in-addr.arpa.", "PTR")) == [
        "db-0.db.default.svc.cluster.local."]
    missing = ask("nope.default.svc.cluster.local")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].to_text().startswith("cluster.local. 30 IN SOA ns.dns.cluster.local.")
    nodata = ask("web.default.svc.cluster.local", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority


def test_other_names_are_forwarded() -> None:
    assert answer(dns.message.make_query("example.invalid", "A"), RECORDS) is None
    assert answer(dns.message.make_query("9.9.9.10.in-addr.arpa.", "PTR"), RECORDS) is None


def test_the_server_keeps_replies_until_the_records_change() -> None:
    from podhost.network.dns import DnsServer
    server = DnsServer("127.0.0.1", records=RECORDS)
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    first = server.local_reply(q.to_wire())
    q.id = (q.id + 1) % 65536
    second = server.local_reply(q.to_wire())
    assert first is not None and second is not None
    assert dns.message.from_wire(second).id == q.id and first[2:] == second[2:]
    server.records = Records.build([DnsService("web", "default", "10.96.0.99")])
    third = server.local_reply(q.to_wire())
    assert third is not None and rdata(dns.message.from_wire(third)) == ["10.96.0.99"]
    assert server.local_reply(dns.message.make_query("example.invalid", "A").to_wire()) is None


def test_load_balancer_ports_on_local_addresses_first_claim_wins() -> None:
    lb = ServicePort("default/a:", "10.96.0.40", "TCP", 8000, 30100, 0, (("10.244.0.2", 80),),
                     local_port=True)
    other = ServicePort("default/b:", "10.96.0.41", "TCP", 8000, 30101, 0,
                        (("10.244.0.3", 80),), local_port=True)
    r = render(LAYOUT, [other, lb])
    [local] = [rule for rule in r.chains["services"] if rule.startswith("fib")]
    assert local.count("tcp . 8000 :") == 1 and "tcp . 30100" in local and "tcp . 30101" in local
    [ext_a] = [c for c in r.chains if c.startswith("ext-") and
               f"tcp . 8000 : goto {c}" in local]
    assert ext_a in local.split("tcp . 30100 : goto ")[1]  # default/a sorts first: it has 8000


def test_a_reply_too_large_for_udp_is_truncated() -> None:
    from podhost.network.dns import DnsServer
    many = tuple(DnsEndpoint(f"10.244.1.{i}") for i in range(1, 60))
    server = DnsServer("127.0.0.1", records=Records.build([DnsService("big", "default", "None",
                                                                      endpoints=many)]))
    q = dns.message.make_query("big.default.svc.cluster.local", "A")
    udp = dns.message.from_wire(server.local_reply(q.to_wire()) or b"")
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.message.from_wire(server.local_reply(q.to_wire(), tcp=True) or b"")
    assert len(rdata(tcp)) == 59
