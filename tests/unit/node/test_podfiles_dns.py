"""/etc/resolv.conf as kubelet writes it for each dnsPolicy (pure but for a temp host file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podhost.node.podfiles import resolv_content

HOST = "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": spec}


def test_cluster_first(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text(HOST)
    assert resolv_content(pod(dnsPolicy="ClusterFirst"), str(host), "10.96.0.10") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")
    # without a cluster DNS, ClusterFirst is the host's file (kubelet without clusterDNS)
    assert resolv_content(pod(dnsPolicy="ClusterFirst"), str(host), "") == (
        "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n")


def test_default_none_and_dns_config_merged(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text(HOST)
    assert resolv_content(pod(dnsPolicy="Default"), str(host), "10.96.0.10") == (
        "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n")
    cfg = {"nameservers": ["192.0.2.1"], "searches": ["a.example"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    assert resolv_content(pod(dnsPolicy="None", dnsConfig=cfg), str(host), "10.96.0.10") == (
        "search a.example\nnameserver 192.0.2.1\noptions ndots:2 edns0\n")
    assert resolv_content(pod(dnsPolicy="ClusterFirst", dnsConfig=cfg), str(host),
                          "10.96.0.10") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example a.example\n"
        "nameserver 10.96.0.10\nnameserver 192.0.2.1\noptions ndots:2 edns0\n")


def test_host_network_pods_use_the_nodes_dns_hosts_and_name(tmp_path: Path) -> None:
    """getPodDNSType: ClusterFirst on the host's network falls back to the host's resolv.conf,
    ClusterFirstWithHostNet keeps the cluster DNS; /etc/hosts is the node's file
    (nodeHostsFileContent) and the host name is the node's."""
    import socket

    from podhost.node.podfiles import hostname, hosts_content

    host = tmp_path / "resolv.conf"
    host.write_text(HOST)
    assert resolv_content(pod(hostNetwork=True), str(host), "10.96.0.10") == (
        "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n")
    assert resolv_content(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"),
                          str(host), "10.96.0.10").startswith("search shop.svc.cluster.local")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n192.0.2.7\tnode1\n")
    aliases = [{"ip": "192.0.2.9", "hostnames": ["a", "b"]}, {"ip": "192.0.2.10",
                                                              "hostnames": ["c"]}]
    assert hosts_content(pod(hostNetwork=True, hostAliases=aliases), "192.0.2.7",
                         str(hosts)) == (
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n"
        "192.0.2.7\tnode1\n\n# Entries added by HostAliases.\n192.0.2.9\ta\tb\n"
        "192.0.2.10\tc\n")
    assert hostname(pod(hostNetwork=True)) == socket.gethostname()
