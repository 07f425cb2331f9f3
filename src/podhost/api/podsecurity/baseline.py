"""The baseline checks of k8s.io/pod-security-admission/policy (1.32), each with upstream's
reason and detail text."""

from __future__ import annotations

from podhost.api.podsecurity.checks import (
    Check,
    CheckFn,
    Forbidden,
    Result,
    Version,
    containers,
    containers_phrase,
    join_quote,
    name,
    pluralize,
    security_context,
    setters,
    sub,
    truthy,
    user_namespaced,
)
from podhost.api.podsecurity.levels import BASELINE
from podhost.api.types import Obj

DEFAULT_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SYSCTLS_1_0 = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                         "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
                         "net.ipv4.ip_unprivileged_port_start"})
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


def privileged(meta: Obj, spec: Obj) -> Result:
    bad = [name(c) for c in containers(spec) if truthy(security_context(c).get("privileged"))]
    if bad:
        return Forbidden("privileged", f"{containers_phrase(bad)} must not set "
                                       "securityContext.privileged=true")
    return None


def host_namespaces(meta: Obj, spec: Obj) -> Result:
    bad = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if truthy(spec.get(key))]
    return Forbidden("host namespaces", ", ".join(bad)) if bad else None


def host_ports(meta: Obj, spec: Obj) -> Result:
    bad, ports = [], set()
    for c in containers(spec):
        used = {str(p.get("hostPort")) for p in c.get("ports") or []
                if isinstance(p, dict) and p.get("hostPort") not in (None, 0)}
        if used:
            bad.append(name(c))
            ports |= used
    if not bad:
        return None
    return Forbidden("hostPort", f"{containers_phrase(bad)} "
                                 f"{pluralize('uses', 'use', len(bad))} "
                                 f"{pluralize('hostPort', 'hostPorts', len(ports))} "
                                 f"{', '.join(sorted(ports))}")


def host_path_volumes(meta: Obj, spec: Obj) -> Result:
    bad = [str(v.get("name") or "") for v in spec.get("volumes") or []
           if isinstance(v, dict) and v.get("hostPath") is not None]
    if bad:
        return Forbidden("hostPath volumes",
                         f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)}")
    return None


def capabilities_baseline(meta: Obj, spec: Obj) -> Result:
    bad, added = [], set()
    for c in containers(spec):
        extra = {str(cap) for cap in sub(security_context(c), "capabilities").get("add") or []
                 if str(cap) not in DEFAULT_CAPABILITIES}
        if extra:
            bad.append(name(c))
            added |= extra
    if bad:
        return Forbidden("non-default capabilities",
                         f"{containers_phrase(bad)} must not include "
                         f"{join_quote(sorted(added))} in securityContext.capabilities.add")
    return None


def windows_host_process(meta: Obj, spec: Obj) -> Result:
    def host_process(obj: Obj) -> bool:
        return truthy(sub(security_context(obj), "windowsOptions").get("hostProcess"))
    who = setters(host_process(spec), [name(c) for c in containers(spec) if host_process(c)])
    if who:
        return Forbidden("hostProcess", f"{' and '.join(who)} must not set "
                                        "securityContext.windowsOptions.hostProcess=true")
    return None


def app_armor_profile(meta: Obj, spec: Obj) -> Result:
    bad_values: set[str] = set()

    def bad(obj: Obj) -> bool:
        profile = security_context(obj).get("appArmorProfile")
        if not isinstance(profile, dict) or profile.get("type") in ("RuntimeDefault",
                                                                      "Localhost"):
            return False
        bad_values.add(str(profile.get("type") or ""))
        return True
    who = setters(bad(spec), [name(c) for c in containers(spec) if bad(c)])
    values = sorted(bad_values)
    annotations = sorted(f"{k}={_go_quote(v)}" for k, v in _annotations(meta).items()
                         if k.startswith(APPARMOR_ANNOTATION) and v and v != "runtime/default"
                         and not v.startswith("localhost/"))
    if annotations:
        values += annotations
        who.append(pluralize("annotation", "annotations", len(annotations)))
    if not who:
        return None
    return Forbidden(pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles",
                               len(values)),
                     f"{' and '.join(who)} must not set AppArmor profile type to "
                     f"{join_quote(values)}")


def _se_linux(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> Result:
        bad_types: set[str] = set()
        flags = {"user": False, "role": False}

        def bad(obj: Obj) -> bool:
            opts = security_context(obj).get("seLinuxOptions")
            if not isinstance(opts, dict):
                return False
            valid = True
            if str(opts.get("type") or "") not in allowed:
                valid = False
                bad_types.add(str(opts.get("type") or ""))
            for key in ("user", "role"):
                if opts.get(key):
                    valid, flags[key] = False, True
            return not valid
        who = setters(bad(spec), [name(c) for c in containers(spec) if bad(c)])
        if not who:
            return None
        data = [f"{pluralize('type', 'types', len(bad_types))} "
                f"{join_quote(sorted(bad_types))}"] if bad_types else []
        data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
        return Forbidden("seLinuxOptions", f"{' and '.join(who)} set forbidden "
                                           f"securityContext.seLinuxOptions: {'; '.join(data)}")
    return check


def proc_mount(meta: Obj, spec: Obj) -> Result:
    if user_namespaced(spec):
        return None
    bad, types = [], set()
    for c in containers(spec):
        mount = security_context(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(name(c))
            types.add(str(mount))
    if bad:
        return Forbidden("procMount", f"{containers_phrase(bad)} must not set "
                                      f"securityContext.procMount to {join_quote(sorted(types))}")
    return None


def valid_seccomp(profile: object) -> bool:
    return isinstance(profile, dict) and profile.get("type") in ("Localhost", "RuntimeDefault")


def seccomp_baseline_1_0(meta: Obj, spec: Obj) -> Result:
    annotations = _annotations(meta)
    keys = [SECCOMP_POD_ANNOTATION] + [SECCOMP_CONTAINER_ANNOTATION + name(c)
                                       for c in containers(spec)]
    bad = sorted({f"{k}={_go_quote(annotations[k])}" for k in keys if k in annotations
                  and not _valid_seccomp_annotation(annotations[k])})
    if bad:
        return Forbidden("seccompProfile", f"forbidden "
                                           f"{pluralize('annotation', 'annotations', len(bad))} "
                                           f"{', '.join(bad)}")
    return None


def seccomp_baseline_1_19(meta: Obj, spec: Obj) -> Result:
    values: set[str] = set()

    def bad(obj: Obj) -> bool:
        profile = security_context(obj).get("seccompProfile")
        if profile is None or valid_seccomp(profile):
            return False
        values.add(str(sub(security_context(obj), "seccompProfile").get("type") or ""))
        return True
    who = setters(bad(spec), [name(c) for c in containers(spec) if bad(c)])
    if who:
        return Forbidden("seccompProfile", f"{' and '.join(who)} must not set "
                                           "securityContext.seccompProfile.type to "
                                           f"{join_quote(sorted(values))}")
    return None


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> Result:
        bad = [str(s.get("name") or "") for s in security_context(spec).get("sysctls") or []
               if isinstance(s, dict) and s.get("name") not in allowed]
        return Forbidden("forbidden sysctls", ", ".join(bad)) if bad else None
    return check


def _annotations(meta: Obj) -> dict[str, str]:
    value = meta.get("annotations")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _valid_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def _go_quote(value: str) -> str:
    """Go's %q of a string (ASCII printable text as is, the rest escaped)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~" or (ord(ch) > 127 and ch.isprintable()):
            out.append(ch)
        else:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{ord(ch):02x}"
                                                                  if ord(ch) < 256
                                                                  else f"\\u{ord(ch):04x}"))
    return '"' + "".join(out) + '"'


CHECKS = [
    Check("privileged", BASELINE, [Version((1, 0), privileged)]),
    Check("hostNamespaces", BASELINE, [Version((1, 0), host_namespaces)]),
    Check("hostPorts", BASELINE, [Version((1, 0), host_ports)]),
    Check("hostPathVolumes", BASELINE, [Version((1, 0), host_path_volumes)]),
    Check("capabilities_baseline", BASELINE, [Version((1, 0), capabilities_baseline)]),
    Check("windowsHostProcess", BASELINE, [Version((1, 0), windows_host_process)]),
    Check("appArmorProfile", BASELINE, [Version((1, 0), app_armor_profile)]),
    Check("seLinuxOptions", BASELINE, [Version((1, 0), _se_linux(SELINUX_TYPES_1_0)),
                                       Version((1, 31), _se_linux(SELINUX_TYPES_1_31))]),
    Check("procMount", BASELINE, [Version((1, 0), proc_mount)]),
    Check("seccompProfile_baseline", BASELINE, [Version((1, 0), seccomp_baseline_1_0),
                                                Version((1, 19), seccomp_baseline_1_19)]),
    Check("sysctls", BASELINE, [Version((1, 0), _sysctls(SYSCTLS_1_0)),
                                Version((1, 27), _sysctls(SYSCTLS_1_27)),
                                Version((1, 29), _sysctls(SYSCTLS_1_29)),
                                Version((1, 32), _sysctls(SYSCTLS_1_32))]),
]
