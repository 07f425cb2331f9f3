"""The restricted checks of k8s.io/pod-security-admission/policy (1.32), each with upstream's
reason and detail text; three of them override a baseline check."""

from __future__ import annotations

from podhost.api.podsecurity.baseline import valid_seccomp
from podhost.api.podsecurity.checks import (
    Check,
    CheckFn,
    Forbidden,
    Result,
    Version,
    containers,
    containers_phrase,
    is_windows,
    join_quote,
    name,
    pluralize,
    security_context,
    setters,
    sub,
    user_namespaced,
)
from podhost.api.podsecurity.levels import RESTRICTED
from podhost.api.types import Obj

# the volume types restricted allows, and the names of those it refuses (in upstream's order)
ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret")
REFUSED_VOLUMES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs",
                   "iscsi", "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc",
                   "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
                   "portworxVolume", "scaleIO", "storageos")


def restricted_volumes(meta: Obj, spec: Obj) -> Result:
    bad, types = [], set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict) or any(v.get(k) is not None for k in ALLOWED_VOLUMES):
            continue
        bad.append(str(v.get("name") or ""))
        types.add(next((k for k in REFUSED_VOLUMES if v.get(k) is not None), "unknown"))
    if not bad:
        return None
    return Forbidden("restricted volume types",
                     f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} "
                     f"{pluralize('uses', 'use', len(bad))} "
                     f"{pluralize('restricted volume type', 'restricted volume types', len(types))}"
                     f" {join_quote(sorted(types))}")


def allow_privilege_escalation_1_8(meta: Obj, spec: Obj) -> Result:
    bad = [name(c) for c in containers(spec)
           if security_context(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return Forbidden("allowPrivilegeEscalation != false",
                         f"{containers_phrase(bad)} must set "
                         "securityContext.allowPrivilegeEscalation=false")
    return None


def _not_on_windows(check: CheckFn) -> CheckFn:
    """The 1.25 version of a check: Pods that declare spec.os.name=windows pass."""
    def versioned(meta: Obj, spec: Obj) -> Result:
        return None if is_windows(spec) else check(meta, spec)
    return versioned


def run_as_non_root(meta: Obj, spec: Obj) -> Result:
    if user_namespaced(spec):
        return None
    pod_value = security_context(spec).get("runAsNonRoot")
    explicit, implicit = [], []
    for c in containers(spec):
        value = security_context(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(name(c))
        elif pod_value is not True:
            implicit.append(name(c))
    who = setters(pod_value is False, explicit)
    if who:
        return Forbidden("runAsNonRoot != true", f"{' and '.join(who)} must not set "
                                                 "securityContext.runAsNonRoot=false")
    if implicit:
        return Forbidden("runAsNonRoot != true", f"pod or {containers_phrase(implicit)} must set "
                                                 "securityContext.runAsNonRoot=true")
    return None


def run_as_user(meta: Obj, spec: Obj) -> Result:
    if user_namespaced(spec):
        return None

    def root(obj: Obj) -> bool:
        value = security_context(obj).get("runAsUser")
        return value == 0 and not isinstance(value, bool)
    who = setters(root(spec), [name(c) for c in containers(spec) if root(c)])
    if who:
        return Forbidden("runAsUser=0", f"{' and '.join(who)} must not set runAsUser=0")
    return None


def seccomp_restricted_1_19(meta: Obj, spec: Obj) -> Result:
    values: set[str] = set()
    pod_profile = security_context(spec).get("seccompProfile")
    pod_bad = pod_profile is not None and not valid_seccomp(pod_profile)
    if pod_bad:
        values.add(str(sub(security_context(spec), "seccompProfile").get("type") or ""))
    pod_set = pod_profile is not None and not pod_bad
    explicit, implicit = [], []
    for c in containers(spec):
        profile = security_context(c).get("seccompProfile")
        if profile is not None:
            if not valid_seccomp(profile):
                explicit.append(name(c))
                values.add(str(sub(security_context(c), "seccompProfile").get("type") or ""))
        elif not pod_set:
            implicit.append(name(c))
    who = setters(pod_bad, explicit)
    if who:
        return Forbidden("seccompProfile", f"{' and '.join(who)} must not set "
                                           "securityContext.seccompProfile.type to "
                                           f"{join_quote(sorted(values))}")
    if implicit:
        return Forbidden("seccompProfile", f"pod or {containers_phrase(implicit)} must set "
                                           'securityContext.seccompProfile.type to '
                                           '"RuntimeDefault" or "Localhost"')
    return None


def capabilities_restricted_1_22(meta: Obj, spec: Obj) -> Result:
    missing_drop, adding, added = [], [], set()
    for c in containers(spec):
        caps = security_context(c).get("capabilities")
        if not isinstance(caps, dict):
            missing_drop.append(name(c))
            continue
        if "ALL" not in (caps.get("drop") or []):
            missing_drop.append(name(c))
        extra = {str(cap) for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"}
        if extra:
            adding.append(name(c))
            added |= extra
    details = []
    if missing_drop:
        details.append(f'{containers_phrase(missing_drop)} must set '
                       'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{containers_phrase(adding)} must not include "
                       f"{join_quote(sorted(added))} in securityContext.capabilities.add")
    return Forbidden("unrestricted capabilities", "; ".join(details)) if details else None


CHECKS = [
    Check("restrictedVolumes", RESTRICTED,
          [Version((1, 0), restricted_volumes, ("hostPathVolumes",))]),
    Check("allowPrivilegeEscalation", RESTRICTED, [
        Version((1, 8), allow_privilege_escalation_1_8),
        Version((1, 25), _not_on_windows(allow_privilege_escalation_1_8))]),
    Check("runAsNonRoot", RESTRICTED, [Version((1, 0), run_as_non_root)]),
    Check("runAsUser", RESTRICTED, [Version((1, 23), run_as_user)]),
    Check("seccompProfile_restricted", RESTRICTED, [
        Version((1, 19), seccomp_restricted_1_19, ("seccompProfile_baseline",)),
        Version((1, 25), _not_on_windows(seccomp_restricted_1_19),
                ("seccompProfile_baseline",))]),
    Check("capabilities_restricted", RESTRICTED, [
        Version((1, 22), capabilities_restricted_1_22, ("capabilities_baseline",)),
        Version((1, 25), _not_on_windows(capabilities_restricted_1_22),
                ("capabilities_baseline",))]),
]
