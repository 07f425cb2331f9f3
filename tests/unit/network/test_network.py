"""Pod network logic without touching the host: addresses, names, scripts, route clashes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from podhost.network import NetworkError, PodInterface, host_ifname, parse_cidr
from podhost.network.bridge import masquerade_rules, overlapping_routes
from podhost.network.ipam import LAST_RESERVED, Allocator


def allocator(tmp_path: Path, cidr: str = "10.9.0.0/29", owner: str = "/node-a") -> Allocator:
    return Allocator(tmp_path / "net", ipaddress.IPv4Network(cidr), owner)


def test_first_address_follows_the_gateway(tmp_path: Path) -> None:
    a = allocator(tmp_path)
    assert a.allocate("uid-1") == "10.9.0.2"
    assert (tmp_path / "net" / "10.9.0.2").read_text() == "uid-1\n/node-a\n"
    assert (tmp_path / "net" / LAST_RESERVED).read_text() == "10.9.0.2"


def test_allocate_is_idempotent_per_pod(tmp_path: Path) -> None:
    a = allocator(tmp_path)
    assert a.allocate("uid-1") == a.allocate("uid-1") == a.lookup("uid-1")


def test_round_robin_does_not_reuse_a_freed_address_at_once(tmp_path: Path) -> None:
    a = allocator(tmp_path)
    first = a.allocate("uid-1")
    a.release("uid-1")
    assert a.lookup("uid-1") is None
    assert a.allocate("uid-2") == "10.9.0.3" != first


def test_exhaustion_and_wrap_around(tmp_path: Path) -> None:
    a = allocator(tmp_path)  # /29: .2 .. .6 for Pods (.1 gateway, .7 broadcast)
    got = [a.allocate(f"uid-{i}") for i in range(5)]
    assert got == [f"10.9.0.{i}" for i in range(2, 7)]
    with pytest.raises(NetworkError, match="no address left in the Pod CIDR 10.9.0.0/29"):
        a.allocate("uid-x")
    a.release("uid-1")
    assert a.allocate("uid-x") == "10.9.0.3"


def test_nodes_sharing_a_network_keep_to_their_own(tmp_path: Path) -> None:
    a, b = allocator(tmp_path, owner=str(tmp_path)), allocator(tmp_path, owner="/")
    ip_a, ip_b = a.allocate("uid-1"), b.allocate("uid-1")
    assert ip_a != ip_b
    a.release("uid-1")
    assert b.lookup("uid-1") == ip_b
    assert a.release_unknown(set()) == []  # node b's root exists: its Pods are its own


def test_release_unknown_frees_strays_and_orphans_of_vanished_nodes(tmp_path: Path) -> None:
    gone = tmp_path / "gone-root"
    a = allocator(tmp_path)
    orphan = allocator(tmp_path, owner=str(gone))
    kept, stray = a.allocate("keep"), a.allocate("stray")
    lost = orphan.allocate("x")
    assert sorted(a.release_unknown({"keep"})) == sorted([stray, lost])
    assert a.lookup("keep") == kept


def test_host_ifname_is_stable_and_short() -> None:
    name = host_ifname("0b3c6c0e-1111-2222-3333-444455556666")
    assert name == host_ifname("0b3c6c0e-1111-2222-3333-444455556666")
    assert name.startswith("veth") and len(name) == 15
    assert name != host_ifname("0b3c6c0e-1111-2222-3333-444455556667")


def test_ip_batch_makes_eth0_and_the_default_route() -> None:
    iface = PodInterface("10.244.0.7", 16, "10.244.0.1", "vethabc")
    assert iface.ip_batch(42).splitlines() == [
        "link add eth0 type veth peer name vethabc netns 42",
        "addr add 10.244.0.7/16 dev eth0",
        "link set eth0 up",
        "route add default via 10.244.0.1 dev eth0"]


@pytest.mark.parametrize("text, message", [
    ("10.244.0.1/16", "has host bits set"),
    ("fd00::/64", "only IPv4"),
    ("10.0.0.0/31", "/30 or shorter"),
    ("banana", "does not appear to be an IPv4 or IPv6 network")])
def test_parse_cidr_rejects(text: str, message: str) -> None:
    with pytest.raises(NetworkError, match=message):
        parse_cidr(text)


def test_overlapping_routes() -> None:
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "192.0.2.0/24", "dev": "eth0"},
              {"dst": "10.244.3.0/24", "dev": "wg0"}, {"dst": "10.244.0.0/16", "dev": "podhost0"},
              {"dst": "10.244.9.9", "dev": "tun0"}]
    assert overlapping_routes(routes, ipaddress.IPv4Network("10.244.0.0/16"), "podhost0") == [
        "10.244.3.0/24 dev wg0", "10.244.9.9 dev tun0"]


def test_masquerade_rules_are_idempotent_and_scoped() -> None:
    script = masquerade_rules("podhost_t", ipaddress.IPv4Network("10.244.0.0/16"))
    assert script.startswith("table ip podhost_t\ndelete table ip podhost_t\n")
    assert "ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade" in script


def ported(*ports: dict) -> dict:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_pod_port_mappings_keep_only_host_ports() -> None:
    from podhost.network.hostports import PortMapping, pod_port_mappings
    pod = ported({"containerPort": 80, "protocol": "TCP"},
                 {"containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
                 {"containerPort": 53, "hostPort": 5353, "protocol": "UDP",
                  "hostIP": "127.0.0.1"},
                 {"containerPort": 81, "hostPort": 8081, "hostIP": "0.0.0.0"})
    assert pod_port_mappings(pod, "10.244.0.9") == [
        PortMapping("tcp", "", 8080, "10.244.0.9", 80),
        PortMapping("tcp", "", 8081, "10.244.0.9", 81),
        PortMapping("udp", "127.0.0.1", 5353, "10.244.0.9", 53)]


@pytest.mark.parametrize("mine, theirs, clash", [
    ({"hostPort": 8080, "protocol": "TCP"}, {"hostPort": 8080, "protocol": "TCP"}, True),
    ({"hostPort": 8080, "protocol": "TCP"}, {"hostPort": 8080, "protocol": "UDP"}, False),
    ({"hostPort": 8080, "protocol": "TCP"}, {"hostPort": 8081, "protocol": "TCP"}, False),
    ({"hostPort": 8080, "protocol": "TCP", "hostIP": "127.0.0.1"},
     {"hostPort": 8080, "protocol": "TCP"}, True),
    ({"hostPort": 8080, "protocol": "TCP", "hostIP": "127.0.0.1"},
     {"hostPort": 8080, "protocol": "TCP", "hostIP": "192.0.2.2"}, False)])
def test_port_conflict_is_the_schedulers_nodeports_filter(mine: dict, theirs: dict,
                                                          clash: bool) -> None:
    from podhost.network.hostports import port_conflict
    assert port_conflict(ported({"containerPort": 1, **mine}),
                         [ported({"containerPort": 2, **theirs})]) is clash
    assert port_conflict(ported({"containerPort": 1}), [ported({"containerPort": 2, **theirs})]) \
        is False


def test_nft_scripts_for_host_ports() -> None:
    from podhost.network.hostports import PortMapping, elements_script, table_name, table_script
    name = table_name("/var/lib/podhost")
    assert name.startswith("podhost_hp_") and name == table_name("/var/lib/podhost")
    table = table_script(name, ipaddress.IPv4Network("10.244.0.0/16"), "podhost0")
    assert ('iifname "podhost0" ip daddr 127.0.0.0/8 ct state != { established, related } drop'
            in table)
    assert table.startswith(f"table ip {name}\ndelete table ip {name}\n")
    assert table.count("fib daddr type local dnat ip to meta l4proto . th dport map @any") == 2
    assert "ip saddr 127.0.0.0/8 ip daddr 10.244.0.0/16 masquerade" in table
    assert elements_script(name, [PortMapping("tcp", "", 8080, "10.244.0.9", 80),
                                  PortMapping("udp", "127.0.0.1", 53, "10.244.0.9", 5353)]) == (
        f"flush map ip {name} any\nflush map ip {name} addr\n"
        f"add element ip {name} any {{ tcp . 8080 : 10.244.0.9 . 80 }}\n"
        f"add element ip {name} addr {{ 127.0.0.1 . udp . 53 : 10.244.0.9 . 5353 }}\n")


def test_default_gateway_from_proc_net_route() -> None:
    from podhost.network.bridge import default_gateway
    table = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
             "podhost0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
             "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n")
    assert default_gateway(table) == "192.0.2.1"
    assert default_gateway(table.splitlines()[0] + "\n" + table.splitlines()[1]) is None


@pytest.mark.parametrize("port, message", [
    ({"hostIP": "1.1.1.1 . tcp . 1 : 10.0.0.9 . 1 }\nflush ruleset\n"}, "is not an IPv4"),
    ({"hostIP": "::1"}, "is not an IPv4 address"),
    ({"protocol": "tcp; flush ruleset"}, "unsupported protocol")])
def test_nothing_from_the_pod_reaches_nft_unparsed(port: dict, message: str) -> None:
    from podhost.network.hostports import pod_port_mappings
    with pytest.raises(NetworkError, match=message):
        pod_port_mappings(ported({"containerPort": 80, "hostPort": 8080, **port}), "10.244.0.9")


def test_host_ports_make_the_table_again_when_it_went(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A table deleted behind the node's back (nft flush ruleset) is made again: a Pod's
    teardown logs no `nft: … No such file or directory`."""
    from podhost.network import hostports
    scripts: list[str] = []
    tables: set[str] = set()

    def fake_nft(script: str) -> None:
        scripts.append(script)
        if "delete table" in script:
            tables.add(script.split()[2])
        elif not any(t in script for t in tables):
            raise NetworkError("nft: Error: Could not process rule: No such file or directory")

    monkeypatch.setattr(hostports, "_nft", fake_nft)
    monkeypatch.setattr(hostports.Path, "write_text", lambda self, text: len(text))
    ports = hostports.HostPorts("/node", ipaddress.IPv4Network("10.9.0.0/24"), "br0",
                                tmp_path / "registry")
    m = hostports.PortMapping("tcp", "", 8080, "10.9.0.2", 80)
    ports.apply([m])
    tables.clear()  # gone
    ports.apply([])
    assert ports.applied == [] and len(scripts) == 5 and "delete table" in scripts[3]
    monkeypatch.setattr(hostports, "_nft", lambda script: (_ for _ in ()).throw(
        NetworkError("nft: Error: syntax error")))
    with pytest.raises(NetworkError, match="syntax error"):
        ports.apply([m])
