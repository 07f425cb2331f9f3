"""The files kubelet writes for every Pod: /etc/hosts, /etc/hostname and /etc/resolv.conf."""

from __future__ import annotations

import os
from pathlib import Path

from podhost.api.types import Obj

HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
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
    (kubelet's generatePodSandboxConfig)."""
    name = short_hostname(pod)
    if pod.get("spec", {}).get("setHostnameAsFQDN") and domain(pod):
        return f"{name}.{domain(pod)}"
    return name


def hosts_content(pod: Obj, pod_ip: str | None) -> str:
    """managedHostsFileContent: the base entries, the Pod's own name, then hostAliases."""
    text = HOSTS_HEADER + HOSTS_BASE
    spec = pod.get("spec", {})
    name = short_hostname(pod)
    if pod_ip:
        fqdn = f"{name}.{domain(pod)}\t{name}" if domain(pod) else name
        text += f"{pod_ip}\t{fqdn}\n"
    for alias in spec.get("hostAliases") or []:
        text += f"\n# Entries added by HostAliases.\n{alias['ip']}\t" \
                f"{chr(9).join(alias.get('hostnames') or [])}\n"
    return text


def resolv_content(pod: Obj, host_resolv: str = "/etc/resolv.conf") -> str:
    """dnsPolicy: without cluster DNS, ClusterFirst falls back to the host's resolv.conf."""
    spec = pod.get("spec", {})
    if spec.get("dnsPolicy") == "None":
        cfg = spec.get("dnsConfig") or {}
        lines = [f"nameserver {ns}" for ns in cfg.get("nameservers") or []]
        if cfg.get("searches"):
            lines.append("search " + " ".join(cfg["searches"]))
        opts = [o["name"] + (f":{o['value']}" if o.get("value") else "")
                for o in cfg.get("options") or []]
        if opts:
            lines.append("options " + " ".join(opts))
        return "\n".join(lines) + "\n"
    try:
        return Path(host_resolv).read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_pod_files(pod_dir: Path, pod: Obj, pod_ip: str | None) -> dict[str, Path]:
    """Write the three files under the Pod's directory; returns container path → host path."""
    files = {"/etc/hosts": (pod_dir / "etc-hosts", hosts_content(pod, pod_ip)),
             "/etc/hostname": (pod_dir / "etc-hostname", hostname(pod) + "\n"),
             "/etc/resolv.conf": (pod_dir / "resolv.conf", resolv_content(pod))}
    for host_path, text in files.values():
        _write(host_path, text)
    return {dest: host_path for dest, (host_path, _text) in files.items()}
