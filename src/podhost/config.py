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
    def pid_file(self) -> Path:
        return self.root / "podhost.pid"

    @property
    def server_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"https://{host}:{self.port}"
