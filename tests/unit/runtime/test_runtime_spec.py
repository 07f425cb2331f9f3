"""build_oci_spec: CRI-style defaults, pinned by golden-ish assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podhost.runtime.spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    DEFAULT_PATH,
    MASKED_PATHS,
    READONLY_PATHS,
    build_oci_spec,
    capabilities_from_mask,
    cgroups_path,
    normalize_capability,
    seccomp_profile,
)
from podhost.runtime.types import ContainerConfig, Mount


def config(**overrides: object) -> ContainerConfig:
    values: dict[str, object] = {
        "id": "abc123", "name": "web", "rootfs": Path("/var/lib/podhost/rootfs/abc123"),
        "args": ["/bin/sh", "-c", "echo hi"], "log_path": Path("/var/log/pods/web.log"),
        "env": ["FOO=bar"],
    }
    values.update(overrides)
    return ContainerConfig(**values)  # type: ignore[arg-type]


def test_process_defaults() -> None:
    spec = build_oci_spec(config(uid=1000, gid=1001, additional_gids=(5, 6), cwd="/work"))
    process = spec["process"]
    assert spec["ociVersion"].startswith("1.0")
    assert process["args"] == ["/bin/sh", "-c", "echo hi"]
    assert process["env"] == [DEFAULT_PATH, "FOO=bar"]
    assert process["cwd"] == "/work"
    assert process["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [5, 6]}
    assert process["terminal"] is False
    assert process["noNewPrivileges"] is True
    assert "oomScoreAdj" not in process


def test_env_keeps_given_path_and_adds_hostname_and_term() -> None:
    spec = build_oci_spec(config(env=["PATH=/x", "A=1"], hostname="pod-1", tty=True))
    assert spec["process"]["env"] == ["PATH=/x", "A=1", "HOSTNAME=pod-1", "TERM=xterm"]
    assert spec["process"]["terminal"] is True
    assert spec["hostname"] == "pod-1"


def test_no_hostname_key_without_hostname() -> None:
    assert "hostname" not in build_oci_spec(config())


def test_default_capabilities_not_inheritable_or_ambient() -> None:
    caps = build_oci_spec(config())["process"]["capabilities"]
    assert set(caps) == {"bounding", "effective", "permitted"}
    for key in ("bounding", "effective", "permitted"):
        assert caps[key] == list(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14
    assert "CAP_SYS_ADMIN" not in DEFAULT_CAPABILITIES
    assert "CAP_NET_RAW" in DEFAULT_CAPABILITIES


def test_explicit_capabilities_are_normalized_and_filtered_by_host() -> None:
    spec = build_oci_spec(config(capabilities=("net_admin", "CAP_CHOWN", "SYS_RESOURCE")),
                          available_capabilities=("CAP_CHOWN", "CAP_NET_ADMIN"))
    assert spec["process"]["capabilities"]["effective"] == ["CAP_NET_ADMIN", "CAP_CHOWN"]
    assert normalize_capability("sys_admin") == "CAP_SYS_ADMIN"


def test_rlimit_nofile_is_capped_by_current_hard_limit() -> None:
    assert build_oci_spec(config(), nofile_limit=20000)["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    assert build_oci_spec(config(), nofile_limit=10**7)["process"]["rlimits"][0]["hard"] == 1048576


def test_root() -> None:
    spec = build_oci_spec(config(readonly_rootfs=True))
    assert spec["root"] == {"path": "/var/lib/podhost/rootfs/abc123", "readonly": True}


def test_default_mounts_then_user_mounts() -> None:
    user = Mount("/data", "/srv/data", options=("rbind", "rprivate", "ro"))
    mounts = build_oci_spec(config(mounts=(user,)))["mounts"]
    assert [m["destination"] for m in mounts] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/data"]
    by_dest = {m["destination"]: m for m in mounts}
    assert by_dest["/proc"]["type"] == "proc"
    assert by_dest["/dev/shm"] == {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                                   "options": ["nosuid", "noexec", "nodev", "mode=1777",
                                               "size=65536k"]}
    assert "ro" in by_dest["/sys"]["options"]
    assert by_dest["/sys/fs/cgroup"]["type"] == "cgroup"
    assert "ro" in by_dest["/sys/fs/cgroup"]["options"]
    assert by_dest["/dev/pts"]["options"][:3] == ["nosuid", "noexec", "newinstance"]
    assert by_dest["/data"] == {"destination": "/data", "type": "bind", "source": "/srv/data",
                                "options": ["rbind", "rprivate", "ro"]}


def test_user_mount_replaces_default_at_same_or_enclosing_path() -> None:
    shm = Mount("/dev/shm", "/run/podhost/pods/p1/shm")
    dests = [m["destination"] for m in build_oci_spec(config(mounts=(shm,)))["mounts"]]
    assert dests.count("/dev/shm") == 1 and dests[-1] == "/dev/shm"
    dev = Mount("/dev", "/dev")
    dests = [m["destination"] for m in build_oci_spec(config(mounts=(dev,)))["mounts"]]
    assert not any(d.startswith("/dev/") for d in dests)


def test_namespaces_new_or_joined_by_path() -> None:
    ns = {"network": "/run/ns/net", "ipc": "/run/ns/ipc", "uts": "/run/ns/uts"}
    namespaces = build_oci_spec(config(namespaces=ns))["linux"]["namespaces"]
    assert namespaces == [
        {"type": "pid"},
        {"type": "network", "path": "/run/ns/net"},
        {"type": "ipc", "path": "/run/ns/ipc"},
        {"type": "uts", "path": "/run/ns/uts"},
        {"type": "mount"},
        {"type": "cgroup"},
    ]
    fresh = build_oci_spec(config())["linux"]["namespaces"]
    assert fresh == [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]


def test_shared_pid_namespace_can_be_joined() -> None:
    spec = build_oci_spec(config(namespaces={"pid": "/proc/42/ns/pid"}))
    namespaces = spec["linux"]["namespaces"]
    assert namespaces[0] == {"type": "pid", "path": "/proc/42/ns/pid"}


@pytest.mark.parametrize("kind", ["mount", "user", "bogus"])
def test_cannot_join_other_namespaces(kind: str) -> None:
    with pytest.raises(ValueError):
        build_oci_spec(config(namespaces={kind: "/proc/1/ns/mnt"}))


def test_masked_and_readonly_paths_are_containerds() -> None:
    linux = build_oci_spec(config())["linux"]
    assert linux["maskedPaths"] == [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware", "/sys/devices/virtual/powercap"]
    assert linux["readonlyPaths"] == [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    assert tuple(linux["maskedPaths"]) == MASKED_PATHS
    assert tuple(linux["readonlyPaths"]) == READONLY_PATHS


def test_cgroups_path_and_resources() -> None:
    linux = build_oci_spec(config(cgroup_parent="podhost-test", memory_limit=64 << 20,
                                  cpu_quota=50000, cpu_period=100000, cpu_shares=512))["linux"]
    assert linux["cgroupsPath"] == "/podhost-test/abc123"
    assert linux["resources"] == {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    }
    assert cgroups_path("/kubepods/pod1/", "c") == "/kubepods/pod1/c"
    assert cgroups_path("", "c") == "/c"
    assert build_oci_spec(config())["linux"]["resources"] == {
        "devices": [{"allow": False, "access": "rwm"}]}


def test_sysctls_and_annotations() -> None:
    spec = build_oci_spec(config(sysctls={"net.ipv4.ip_forward": "1"},
                                 annotations={"io.kubernetes.pod.name": "web"}))
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert spec["annotations"] == {"io.kubernetes.pod.name": "web"}


def test_privileged() -> None:
    host_caps = ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN")
    spec = build_oci_spec(config(privileged=True), available_capabilities=host_caps)
    assert spec["process"]["capabilities"]["bounding"] == list(host_caps)
    linux = spec["linux"]
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert "seccomp" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert "rw" in by_dest["/sys"]["options"] and "ro" not in by_dest["/sys"]["options"]
    everything = build_oci_spec(config(privileged=True))["process"]["capabilities"]["bounding"]
    assert everything == list(ALL_CAPABILITIES)


def test_spec_is_json_serializable() -> None:
    spec = build_oci_spec(config(mounts=(Mount("/a", "/b"),), namespaces={"network": "/n"}))
    assert json.loads(json.dumps(spec)) == spec


def test_capabilities_from_mask() -> None:
    assert capabilities_from_mask(0b1) == ("CAP_CHOWN",)
    assert capabilities_from_mask(1 << 21 | 1 << 13) == ("CAP_NET_RAW", "CAP_SYS_ADMIN")
    mask_without_sys_resource = 0x1FFFEFFFFFF
    caps = capabilities_from_mask(mask_without_sys_resource)
    assert "CAP_SYS_RESOURCE" not in caps and len(caps) == 40


# ------------------------------------------------------------------ seccomp


def _names(profile: dict, action: str = "SCMP_ACT_ALLOW", with_args: bool = False) -> set[str]:
    return {name for rule in profile["syscalls"] if rule["action"] == action
            and ("args" in rule) == with_args for name in rule["names"]}


def test_seccomp_runtime_default_shape() -> None:
    seccomp = build_oci_spec(config())["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp["defaultErrnoRet"] == 1
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for rule in seccomp["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet"}
        assert rule["names"] and rule["action"].startswith("SCMP_ACT_")


def test_seccomp_allowlist_contents() -> None:
    allowed = _names(seccomp_profile(DEFAULT_CAPABILITIES))
    for name in ("read", "write", "openat", "execve", "fork", "mmap",
                 "epoll_pwait", "futex", "io_uring_setup", "arch_prctl", "chroot", "ptrace",
                 "setuid", "capset", "rt_sigreturn", "statx", "close_range", "pidfd_open"):
        assert name in allowed, name
    for name in ("mount", "umount2", "unshare", "setns", "reboot", "kexec_load", "init_module",
                 "bpf", "perf_event_open", "sethostname", "keyctl", "add_key", "swapon",
                 "open_by_handle_at", "clock_settime", "acct", "iopl", "userfaultfd"):
        assert name not in allowed, name


def test_seccomp_clone_is_restricted_without_sys_admin() -> None:
    profile = seccomp_profile(DEFAULT_CAPABILITIES)
    assert "clone" not in _names(profile)
    clone = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]}]
    clone3 = [r for r in profile["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    socket = [r for r in profile["syscalls"] if r["names"] == ["socket"]]
    assert socket[0]["args"] == [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]


def test_seccomp_capability_rules() -> None:
    admin = seccomp_profile(DEFAULT_CAPABILITIES + ("CAP_SYS_ADMIN",))
    allowed = _names(admin)
    assert {"clone", "clone3", "mount", "unshare", "setns", "sethostname"} <= allowed
    assert not [r for r in admin["syscalls"] if r["names"] in (["clone3"],)
                and r["action"] == "SCMP_ACT_ERRNO"]
    assert "reboot" in _names(seccomp_profile(("CAP_SYS_BOOT",)))
    assert "chroot" not in _names(seccomp_profile(("CAP_CHOWN",)))


def test_seccomp_per_architecture() -> None:
    arm = seccomp_profile(DEFAULT_CAPABILITIES, arch="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" not in _names(arm)
    assert "set_tls" in _names(arm)


def test_seccomp_unconfined() -> None:
    assert "seccomp" not in build_oci_spec(config(seccomp="Unconfined"))["linux"]


def test_rootfs_propagation_follows_the_mounts() -> None:
    from podhost.runtime.spec import rootfs_propagation
    from podhost.runtime.types import Mount
    private = Mount("/a", "/x", "bind", ("rbind", "rprivate"))
    slave = Mount("/b", "/y", "bind", ("rbind", "rslave"))
    shared = Mount("/c", "/z", "bind", ("rbind", "rshared", "ro"))
    assert rootfs_propagation([private]) == ""
    assert rootfs_propagation([private, slave]) == "rslave"
    assert rootfs_propagation([slave, shared]) == "rshared"
