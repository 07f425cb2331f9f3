"""The Pod network on the real kernel: a private bridge and CIDR, two sandboxes with veth
pairs, traffic from the host and between Pods, and nothing left when they go."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.network import NetworkError, PodInterface
from podhost.network.bridge import PodNetwork
from podhost.runtime.errors import SandboxError
from podhost.runtime.sandbox import create_sandbox, remove_sandbox, sandbox_exists

pytestmark = pytest.mark.integration

CIDR = "10.251.7.0/24"


@pytest.fixture
def network(tmp_path: Path) -> Iterator[PodNetwork]:
    bridge = f"phtest{uuid.uuid4().hex[:6]}"
    net = PodNetwork(CIDR, str(tmp_path), bridge=bridge, state_dir=tmp_path / "ipam")
    net.ensure()
    try:
        yield net
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", "podhost_10_251_7_0_24"],
                       capture_output=True)


async def make_pod(net: PodNetwork, ns_dir: Path, uid: str) -> PodInterface:
    iface = net.interface(uid)
    await create_sandbox(ns_dir, uid[:8], iface)
    net.attach(iface)
    return iface


def in_netns(ns: Path, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["nsenter", f"--net={ns}", sys.executable, "-c", code],
                            stdout=subprocess.PIPE, text=True)


SERVER = """
import socket, sys
s = socket.socket(); s.bind(("0.0.0.0", 7070)); s.listen(); print("ready", flush=True)
for _ in range(2):
    c, addr = s.accept(); c.sendall(addr[0].encode()); c.close()
"""


def test_host_and_pods_reach_a_pod_at_its_address(network: PodNetwork, tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a" / "ns", tmp_path / "b" / "ns"
    a = asyncio.run(make_pod(network, a_dir, "uid-a"))
    b = asyncio.run(make_pod(network, b_dir, "uid-b"))
    assert (a.ip, b.ip) == ("10.251.7.2", "10.251.7.3")
    assert network.address_of("uid-b") == b.ip
    links = subprocess.run(["ip", "-o", "link", "show", "master", network.bridge],
                           capture_output=True, text=True, check=True).stdout
    assert a.host_ifname in links and b.host_ifname in links
    server = in_netns(a_dir / "net", SERVER)
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        import socket
        with socket.create_connection((a.ip, 7070), timeout=5) as c:  # host -> Pod
            assert c.recv(100) == b"10.251.7.1"  # the host comes from the gateway
        client = subprocess.run(  # Pod -> Pod
            ["nsenter", f"--net={b_dir / 'net'}", sys.executable, "-c",
             f"import socket; print(socket.create_connection(('{a.ip}', 7070), 5).recv(99))"],
            capture_output=True, text=True, timeout=20)
        assert client.stdout.strip() == f"b'{b.ip}'"
    finally:
        server.kill()
        server.wait()
    for ns_dir, uid, iface in ((a_dir, "uid-a", a), (b_dir, "uid-b", b)):
        asyncio.run(remove_sandbox(ns_dir))
        network.release(uid)
        deadline = time.monotonic() + 5
        while Path(f"/sys/class/net/{iface.host_ifname}").exists():
            assert time.monotonic() < deadline, f"{iface.host_ifname} outlived its namespace"
            time.sleep(0.05)
    assert network.ipam.reservations() == {}


def test_a_failed_interface_leaves_no_sandbox(network: PodNetwork, tmp_path: Path) -> None:
    ns_dir = tmp_path / "c" / "ns"
    bad = PodInterface("10.251.7.9", 24, "10.99.0.1", "vethbadgateway")  # gateway off-link
    with pytest.raises(SandboxError, match="cannot configure the Pod's network"):
        asyncio.run(create_sandbox(ns_dir, "c", bad))
    assert not sandbox_exists(ns_dir)
    assert not (ns_dir / "net").exists()


def test_overlapping_cidr_is_refused(tmp_path: Path) -> None:
    routes = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True).stdout
    import json
    taken = next(r["dst"] for r in json.loads(routes) if r.get("dst") not in ("default", None)
                 and "/" in r["dst"] and not r.get("dev", "").startswith(("phtest", "podhost")))
    net = PodNetwork(taken, str(tmp_path), bridge="phtestclash", state_dir=tmp_path)
    with pytest.raises(NetworkError, match=f"the Pod CIDR {taken} overlaps the host's routes"):
        net.ensure()
    assert not Path("/sys/class/net/phtestclash").exists()


def test_reattach_after_a_crash_between_making_and_attaching(network: PodNetwork,
                                                            tmp_path: Path) -> None:
    ns_dir = tmp_path / "d" / "ns"
    iface = network.interface("uid-d")
    asyncio.run(create_sandbox(ns_dir, "d", iface))  # the node died before attach()
    master = Path(f"/sys/class/net/{iface.host_ifname}/master")
    assert not master.exists()
    try:
        assert network.reattach("uid-d") == iface.ip
        assert master.resolve().name == network.bridge
        assert network.reattach("uid-d") == iface.ip  # idempotent
        flags = Path(f"/sys/class/net/{iface.host_ifname}/flags").read_text()
        assert int(flags, 16) & 0x1  # up
    finally:
        asyncio.run(remove_sandbox(ns_dir))
        network.release("uid-d")
