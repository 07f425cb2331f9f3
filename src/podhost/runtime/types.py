"""Plain values that describe containers to the runtime and report their state back.

These are the runtime's whole vocabulary: the node translates Pod specs into `ContainerConfig`
values, and reads `ContainerState` values back. Nothing here performs I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ContainerStatus = Literal["created", "running", "stopped", "unknown"]

#: Container ids name directories and files (bundle, exit file, runc state): no dots, no slashes.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class Mount:
    """One OCI mount; the default is a recursive private bind mount."""

    destination: str
    source: str
    type: str = "bind"
    options: tuple[str, ...] = ("rbind", "rprivate")


@dataclass(frozen=True)
class ContainerConfig:
    """Everything needed to create one container (one OCI bundle).

    `namespaces` maps an OCI namespace type (`network`, `ipc`, `uts`, also `pid` for a shared
    process namespace) to the path of a namespace to join; types not listed get new namespaces.
    `capabilities` None means the container runtimes' default set; names may omit `CAP_`.
    `seccomp` is "RuntimeDefault" (podhost's default profile) or "Unconfined".
    """

    id: str
    name: str
    rootfs: Path
    args: list[str]
    log_path: Path
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    hostname: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    no_new_privileges: bool = True
    capabilities: tuple[str, ...] | None = None
    seccomp: Literal["RuntimeDefault", "Unconfined"] = "RuntimeDefault"
    sysctls: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = "podhost"
    memory_limit: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    stop_signal: str = "SIGTERM"
    log_size_max: int | None = None  # conmon truncates the log file beyond this (a safety cap)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerState:
    """What the runtime knows of a container now; times are Unix timestamps (seconds)."""

    id: str
    status: ContainerStatus
    pid: int | None = None
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    oom_killed: bool = False
    created_at: float | None = None
