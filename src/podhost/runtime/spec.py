"""Pure construction of OCI runtime specs (config.json) from a ContainerConfig.

The defaults follow what containerd's CRI plugin and CRI-O give Kubernetes containers: the
default capability set, masked and read-only /proc and /sys paths, the standard /dev, /proc,
/sys mounts, a deny-all device cgroup (runc appends its own safe defaults), and the
RuntimeDefault seccomp profile shipped as `seccomp_default.json`. Nothing here touches the
host: facts such as the current RLIMIT_NOFILE hard limit or the capabilities this process may
grant are passed in by the caller (see `podhost.runtime.runc`).
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from podhost.runtime.types import ContainerConfig, Mount

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOFILE_LIMIT = 1048576

#: containerd/CRI-O default capability set (bounding, effective, permitted).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

#: Linux capabilities by number (capability.h), used to decode /proc/<pid>/status masks.
ALL_CAPABILITIES: tuple[str, ...] = tuple("CAP_" + name for name in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
).split())

#: containerd's default masked paths.
MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

#: containerd's default read-only paths.
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)

#: Namespaces in the order runc expects to set them up; `mount` is always new.
NAMESPACE_TYPES: tuple[str, ...] = ("pid", "network", "ipc", "uts", "mount", "cgroup")


def capabilities_from_mask(mask: int) -> tuple[str, ...]:
    """Capability names of the bits set in a /proc/<pid>/status Cap* mask."""
    return tuple(name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1)


def normalize_capability(name: str) -> str:
    """`net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all become `CAP_NET_ADMIN`."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def effective_capabilities(cfg: ContainerConfig,
                           available: Sequence[str] | None = None) -> tuple[str, ...]:
    """The capability set of the container process, limited to what the host can grant."""
    if cfg.privileged:
        caps: Iterable[str] = available if available is not None else ALL_CAPABILITIES
    elif cfg.capabilities is None:
        caps = DEFAULT_CAPABILITIES
    else:
        caps = (normalize_capability(c) for c in cfg.capabilities)
    unique = list(dict.fromkeys(caps))
    if available is not None:
        allowed = set(available)
        unique = [c for c in unique if c in allowed]
    return tuple(unique)


def default_mounts(privileged: bool = False) -> list[dict[str, Any]]:
    """The standard mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, cgroup."""
    sys_mode = "rw" if privileged else "ro"
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", sys_mode]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", sys_mode]},
    ]


def _covers(outer: str, inner: str) -> bool:
    outer = outer.rstrip("/") or "/"
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def oci_mount(m: Mount) -> dict[str, Any]:
    """One ContainerConfig mount as an OCI mount object."""
    return {"destination": m.destination, "type": m.type, "source": m.source,
            "options": list(m.options)}


def build_mounts(cfg: ContainerConfig) -> list[dict[str, Any]]:
    """Default mounts, less those a caller's mount replaces (same or enclosing path), then cfg's."""
    user = [oci_mount(m) for m in cfg.mounts]
    defaults = [d for d in default_mounts(cfg.privileged)
                if not any(_covers(u["destination"], d["destination"]) for u in user)]
    return defaults + user


HOST_NAMESPACE = "host"  # a requested "path" meaning: stay in the host's namespace (hostPID)


def build_namespaces(requested: dict[str, str]) -> list[dict[str, str]]:
    """New namespaces for every type, except those to join by path (never `mount`) and those
    requested as HOST_NAMESPACE, which the container shares with the host (no entry)."""
    unknown = set(requested) - (set(NAMESPACE_TYPES) - {"mount"})
    if unknown:
        raise ValueError(f"cannot join namespaces of type {sorted(unknown)}")
    result = []
    for ns_type in NAMESPACE_TYPES:
        path = requested.get(ns_type)
        if path == HOST_NAMESPACE:
            continue
        result.append({"type": ns_type, "path": path} if path else {"type": ns_type})
    return result


def build_env(cfg: ContainerConfig) -> list[str]:
    """cfg.env plus the defaults runtimes add when absent: PATH, HOSTNAME, TERM (with a tty)."""
    env = list(cfg.env)
    names = {e.split("=", 1)[0] for e in env}
    if "PATH" not in names:
        env.insert(0, DEFAULT_PATH)
    if cfg.hostname and "HOSTNAME" not in names:
        env.append(f"HOSTNAME={cfg.hostname}")
    if cfg.tty and "TERM" not in names:
        env.append("TERM=xterm")
    return env


def build_process(cfg: ContainerConfig, nofile_limit: int,
                  available_capabilities: Sequence[str] | None) -> dict[str, Any]:
    """The OCI `process` object."""
    caps = list(effective_capabilities(cfg, available_capabilities))
    nofile = min(NOFILE_LIMIT, nofile_limit)
    user: dict[str, Any] = {"uid": cfg.uid, "gid": cfg.gid}
    if cfg.additional_gids:
        user["additionalGids"] = list(cfg.additional_gids)
    return {
        "terminal": cfg.tty,
        "user": user,
        "args": list(cfg.args),
        "env": build_env(cfg),
        "cwd": cfg.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": cfg.no_new_privileges,
    }


def cgroups_path(cgroup_parent: str, container_id: str) -> str:
    """cgroupfs-style path: `/<parent>/<id>`."""
    parent = cgroup_parent.strip("/")
    return f"/{parent}/{container_id}" if parent else f"/{container_id}"


def build_resources(cfg: ContainerConfig) -> dict[str, Any]:
    """Device cgroup rules plus memory/cpu limits when given."""
    resources_: dict[str, Any] = {
        "devices": [{"allow": cfg.privileged, "access": "rwm"}],
    }
    if cfg.memory_limit is not None:
        resources_["memory"] = {"limit": cfg.memory_limit}
    cpu = {key: value for key, value in (("shares", cfg.cpu_shares), ("quota", cfg.cpu_quota),
                                          ("period", cfg.cpu_period)) if value is not None}
    if cpu:
        resources_["cpu"] = cpu
    return resources_


@functools.cache
def _profile_template() -> dict[str, Any]:
    text = resources.files("podhost.runtime").joinpath("seccomp_default.json").read_text()
    profile: dict[str, Any] = json.loads(text)
    return profile


def _rule_applies(rule: dict[str, Any], caps: set[str], arch: str) -> bool:
    if "arches" in rule and arch not in rule["arches"]:
        return False
    if any(c not in caps for c in rule.get("ifCaps", ())):
        return False
    return not any(c in caps for c in rule.get("unlessCaps", ()))


def seccomp_profile(capabilities: Iterable[str], arch: str = "x86_64") -> dict[str, Any]:
    """The RuntimeDefault profile resolved for a capability set and machine as OCI linux.seccomp."""
    template = _profile_template()
    caps = set(capabilities)
    syscalls = []
    for rule in template["syscalls"]:
        if not _rule_applies(rule, caps, arch):
            continue
        out: dict[str, Any] = {"names": list(rule["names"]), "action": rule["action"]}
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        if "args" in rule:
            out["args"] = [dict(a) for a in rule["args"]]
        syscalls.append(out)
    return {
        "defaultAction": template["defaultAction"],
        "defaultErrnoRet": template["defaultErrnoRet"],
        "architectures": list(template["architectures"].get(arch, [])),
        "syscalls": syscalls,
    }


#: Directories of /dev that containerd's HostDevices does not descend into.
_SKIP_DEV_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """The host's device nodes as OCI linux.devices (containerd's oci.HostDevices, what a
    privileged container gets): char and block devices under /dev, recursively, except
    /dev/console and the pts, shm, fd and mqueue directories; symlinks are not followed."""
    out: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name not in _SKIP_DEV_DIRS:
                out += host_devices(entry.path)
            continue
        if entry.name == "console":
            continue
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
        if kind:
            out.append({"path": entry.path, "type": kind, "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid, "gid": st.st_gid})
    return out


def rootfs_propagation(mounts: Sequence[Any]) -> str:
    """What CRI-O sets: the container's / is rshared when a mount is Bidirectional (so that its
    mounts reach the host), rslave when one is HostToContainer, else runc's default."""
    options = {o for m in mounts for o in m.options}
    if "rshared" in options:
        return "rshared"
    return "rslave" if "rslave" in options else ""


def build_linux(cfg: ContainerConfig, caps: Sequence[str], arch: str,
                devices: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The OCI `linux` object."""
    linux: dict[str, Any] = {
        "namespaces": build_namespaces(cfg.namespaces),
        "cgroupsPath": cgroups_path(cfg.cgroup_parent, cfg.id),
        "resources": build_resources(cfg),
    }
    if propagation := rootfs_propagation(cfg.mounts):
        linux["rootfsPropagation"] = propagation
    if cfg.privileged and devices:
        linux["devices"] = [dict(d) for d in devices]
    if cfg.sysctls:
        linux["sysctl"] = dict(cfg.sysctls)
    if not cfg.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if cfg.seccomp == "RuntimeDefault":
            linux["seccomp"] = seccomp_profile(caps, arch)
    return linux


def build_oci_spec(cfg: ContainerConfig, *, nofile_limit: int = NOFILE_LIMIT,
                   available_capabilities: Sequence[str] | None = None,
                   arch: str = "x86_64",
                   devices: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The complete config.json for cfg.

    nofile_limit: the caller's current RLIMIT_NOFILE hard limit (the container's soft and hard
    limit become min(1048576, nofile_limit), since raising it needs CAP_SYS_RESOURCE).
    available_capabilities: capabilities this host can grant (bounding set); privileged
    containers get all of them, and requested ones outside it are dropped. None = no filter.
    arch: `uname -m`, selecting the seccomp architectures and arch-specific rules.
    devices: the host's device nodes a privileged container gets (`host_devices()`); None
    reads them from /dev when cfg is privileged (the one host fact read here).
    """
    process = build_process(cfg, nofile_limit, available_capabilities)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": str(cfg.rootfs), "readonly": cfg.readonly_rootfs},
        "mounts": build_mounts(cfg),
        "linux": build_linux(cfg, process["capabilities"]["bounding"], arch,
                             (host_devices() if devices is None else devices)
                             if cfg.privileged else ()),
    }
    if cfg.hostname:
        spec["hostname"] = cfg.hostname
    if cfg.annotations:
        spec["annotations"] = dict(cfg.annotations)
    return spec
