"""A hostPort that a process of the node listens on too: found from /proc/net."""

from __future__ import annotations

from pathlib import Path

from podhost.network import listeners

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0 0 0
"""
UDP = """  sl  local_address rem_address   st
   0: 0A00F40A:0035 00000000:0000 07 0 0 0
"""


def pod(port: int, host_ip: str = "", protocol: str = "TCP") -> dict:
    p = {"containerPort": 80, "hostPort": port, "protocol": protocol}
    if host_ip:
        p["hostIP"] = host_ip
    return {"spec": {"containers": [{"name": "c", "ports": [p]}]}}


def proc(tmp_path: Path) -> Path:
    for name, text in (("tcp", TCP), ("tcp6", TCP6), ("udp", UDP)):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_parse_listeners(tmp_path: Path) -> None:
    assert listeners.listening("tcp", proc(tmp_path)) == {
        ("0.0.0.0", 8080), ("127.0.0.1", 3306), ("::", 80)}
    assert listeners.listening("udp", proc(tmp_path)) == {("10.244.0.10", 53)}


def test_shadowed_ports(tmp_path: Path) -> None:
    net = proc(tmp_path)
    assert listeners.shadowed(pod(8080), net) == [
        "hostPort 8080/TCP: a process of the node listens on 0.0.0.0:8080 too; connections "
        "to the node:8080 now go to this Pod, not to that process"]
    assert listeners.shadowed(pod(80, "127.0.0.1"), net) == [
        "hostPort 80/TCP: a process of the node listens on [::]:80 too; connections to "
        "127.0.0.1:80 now go to this Pod, not to that process"]
    assert listeners.shadowed(pod(3306), net) != []  # every address includes 127.0.0.1
    assert listeners.shadowed(pod(3306, "10.0.0.1"), net) == []  # another address
    assert listeners.shadowed(pod(8081), net) == []  # a connection, not a listener
    assert listeners.shadowed(pod(53, protocol="UDP"), net) != []
    assert listeners.shadowed(pod(53), net) == []  # TCP/53: nobody
