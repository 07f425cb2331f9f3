"""The files kubelet writes for every Pod: /etc/hosts, /etc/hostname and /etc/resolv.conf."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from podhost.api.types import Obj

HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
HOSTS_BASE = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
              "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
              "fe00::2\tip6-allrouters\n")


CLUSTER_DOMAIN = "cluster.local"


def short_hostname(pod: Obj) -> str:
    """GeneratePodHostNameAndDomain's host name: spec.hostname, else the Pod's name, cut to 63."""
    spec = pod.get("spec", {})
    return str(spec.get("hostname") or pod["metadata"]["name"])[:63].rstrip("-.")


def domain(pod: Obj) -> str:
    """`<subdomain>.<namespace>.svc.cluster.local` when spec.subdomain is set, else ""."""
    sub = pod.get("spec", {}).get("subdomain")
    ns = pod["metadata"].get("namespace", "default")
    return f"{sub}.{ns}.svc.{CLUSTER_DOMAIN}" if sub else ""


def hostname(pod: Obj) -> str:
    """The sandbox's (UTS) host name: the short name, or with setHostnameAsFQDN the FQDN
    (kubelet's generatePodSandboxConfig); a hostNetwork Pod has the node's."""
    if pod.get("spec", {}).get("hostNetwork"):
        return socket.gethostname()
    name = short_hostname(pod)
    if pod.get("spec", {}).get("setHostnameAsFQDN") and domain(pod):
        return f"{name}.{domain(pod)}"
    return name


def hosts_content(pod: Obj, pod_ip: str | None, host_hosts: str = "/etc/hosts") -> str:
    """managedHostsFileContent: the base entries, the Pod's own name, then hostAliases; a
    hostNetwork Pod gets the node's file instead (nodeHostsFileContent)."""
    spec = pod.get("spec", {})
    if spec.get("hostNetwork"):
        try:
            node_hosts = Path(host_hosts).read_text()
        except OSError:
            node_hosts = ""
        return HOSTS_HEADER_HOST_NETWORK + node_hosts + _host_aliases(spec)
    text = HOSTS_HEADER + HOSTS_BASE
    name = short_hostname(pod)
    if pod_ip:
        fqdn = f"{name}.{domain(pod)}\t{name}" if domain(pod) else name
        text += f"{pod_ip}\t{fqdn}\n"
    return text + _host_aliases(spec)


def _host_aliases(spec: Obj) -> str:
    """hostsEntriesFromHostAliases: one header, then a line per alias."""
    aliases = spec.get("hostAliases") or []
    if not aliases:
        return ""
    return "\n# Entries added by HostAliases.\n" + "".join(
        f"{alias['ip']}\t{chr(9).join(alias.get('hostnames') or [])}\n" for alias in aliases)


def parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf text."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            searches = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    return servers, searches, options


def _merge_options(base: list[str], extra: list[Obj]) -> list[str]:
    """mergeDNSOptions: dnsConfig options override those of the same name."""
    merged: dict[str, str] = {}
    for text in base:
        merged[text.partition(":")[0]] = text
    for opt in extra:
        name = str(opt.get("name") or "")
        if name:
            merged[name] = name + (f":{opt['value']}" if opt.get("value") else "")
    return list(merged.values())


def resolv_content(pod: Obj, host_resolv: str = "/etc/resolv.conf",
                   cluster_dns: str = "") -> str:
    """kubelet's GetPodDNS for each dnsPolicy: ClusterFirst points at the cluster DNS with the
    namespace's search path and ndots:5 (the host's file when there is no cluster DNS);
    Default copies the host's; None uses dnsConfig alone; dnsConfig is merged into the others."""
    spec = pod.get("spec", {})
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    try:
        host = Path(host_resolv).read_text()
    except OSError:
        host = ""
    servers, searches, options = parse_resolv(host)
    if policy == "None":
        servers, searches, options = [], [], []
    elif cluster_dns and (policy == "ClusterFirstWithHostNet" or (
            policy == "ClusterFirst" and not spec.get("hostNetwork"))):
        # getPodDNSType: ClusterFirst on the host's network falls back to Default
        ns = pod["metadata"].get("namespace") or "default"
        servers = [cluster_dns]
        searches = [f"{ns}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN,
                    *searches]
        options = ["ndots:5"]
    cfg = spec.get("dnsConfig") or {}
    servers += [s for s in cfg.get("nameservers") or [] if s not in servers]
    searches += [s for s in cfg.get("searches") or [] if s not in searches]
    options = _merge_options(options, cfg.get("options") or [])
    lines = []
    if searches:
        lines.append("search " + " ".join(dict.fromkeys(searches)))
    lines += [f"nameserver {s}" for s in servers[:3]]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n" if lines else ""


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_pod_files(pod_dir: Path, pod: Obj, pod_ip: str | None,
                    cluster_dns: str = "") -> dict[str, Path]:
    """Write the three files under the Pod's directory; returns container path → host path."""
    files = {"/etc/hosts": (pod_dir / "etc-hosts", hosts_content(pod, pod_ip)),
             "/etc/hostname": (pod_dir / "etc-hostname", hostname(pod) + "\n"),
             "/etc/resolv.conf": (pod_dir / "resolv.conf",
                                  resolv_content(pod, cluster_dns=cluster_dns))}
    for host_path, text in files.values():
        _write(host_path, text)
    return {dest: host_path for dest, (host_path, _text) in files.items()}
