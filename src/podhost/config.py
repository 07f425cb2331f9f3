"""Settings of one podhost node, passed explicitly (never a global)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/var/lib/podhost"
DEFAULT_PORT = 6443
DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_INGRESS_HTTP_PORT = 80
DEFAULT_INGRESS_HTTPS_PORT = 443


def default_root() -> Path:
    return Path(os.environ.get("PODHOST_ROOT") or DEFAULT_ROOT)


def default_pod_cidr() -> str:
    return os.environ.get("PODHOST_POD_CIDR") or DEFAULT_POD_CIDR


def default_service_cidr() -> str:
    return os.environ.get("PODHOST_SERVICE_CIDR") or DEFAULT_SERVICE_CIDR


def default_node_name() -> str:
    return socket.gethostname().split(".")[0].lower() or "podhost"


@dataclass(frozen=True)
class Settings:
    root: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    node_name: str = ""
    runc: str = "/usr/sbin/runc"
    conmon: str = "/usr/bin/conmon"
    update_user_kubeconfig: bool = True
    registries_conf: Path | None = None  # None: $PODHOST_REGISTRIES_CONF or the default file
    pod_cidr: str = ""  # "" or "none": Pods have loopback only
    service_cidr: str = DEFAULT_SERVICE_CIDR
    image_pull_fallback: bool = True  # a failed pull runs the image already on the node
    hpa_sync_period: float = 15.0  # seconds between two syncs of every autoscaler
    hpa_downscale_stabilization: float = 300.0  # seconds of recommendations a scale-down keeps
    ingress_http_port: int = DEFAULT_INGRESS_HTTP_PORT  # 0: no HTTP listener
    ingress_https_port: int = DEFAULT_INGRESS_HTTPS_PORT  # 0: no HTTPS listener
    pod_security_default: str | None = None  # --pod-security-default LEVEL
    admission_config: Path | None = None  # --admission-control-config-file

    @property
    def db_path(self) -> Path:
        return self.root / "podhost.db"

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def ingress_dir(self) -> Path:
        return self.root / "ingress"

    @property
    def pid_file(self) -> Path:
        return self.root / "podhost.pid"

    @property
    def server_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"https://{host}:{self.port}"
