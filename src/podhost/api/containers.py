"""Container field validation in the API server's words (validateContainerCommon and friends).

Ports, env, envFrom, resources, securityContext, lifecycle hooks and probes; the paths, messages
and check order follow pkg/apis/core/validation of Kubernetes 1.32. Pure.
"""

from __future__ import annotations

import re
from typing import Any

from podhost.api import errors, meta, quantity
from podhost.api.errors import FieldError
from podhost.api.types import Obj

NEGATIVE_MSG = "must be greater than or equal to 0"
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
ID_RANGE_MSG = "must be between 0 and 2147483647, inclusive"
PROTOCOLS = ["SCTP", "TCP", "UDP"]
ENV_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name', "
                " or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
                f"'{ENV_NAME_FMT}')")
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                  "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                  f"is '{CONFIG_KEY_FMT}')")
ENV_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name",
                   "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                   "status.podIP", "status.podIPs"]
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
INIT_FORBIDDEN = "may not be set for init containers without restartPolicy=Always"


def _chdir_prefix(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"must not be '{value}'"]
    return ["must not start with '..'"] if value.startswith("..") else []


def env_name_errors(value: str) -> list[str]:
    """IsEnvVarName."""
    errs = [] if re.fullmatch(ENV_NAME_FMT, value) else [ENV_NAME_MSG]
    return errs + _chdir_prefix(value)


def config_key_errors(value: str) -> list[str]:
    """IsConfigMapKey."""
    errs = ["must be no more than 253 characters"] if len(value) > 253 else []
    errs += [] if re.fullmatch(CONFIG_KEY_FMT, value) else [CONFIG_KEY_MSG]
    return errs + _chdir_prefix(value)


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName (an IANA_SVC_NAME)."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens (-)")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen (-)")
    return errs


def _port_number(value: Any, field: str) -> list[FieldError]:
    if isinstance(value, str):
        return [errors.invalid(field, value, m) for m in port_name_errors(value)]
    if not isinstance(value, int) or not 1 <= value <= 65535:
        return [errors.invalid(field, value, PORT_RANGE_MSG)]
    return []


def _is_ip(value: Any) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_port_conflicts(containers: list[Obj], path: str) -> list[FieldError]:
    """AccumulateUniqueHostPorts: a protocol, hostIP and hostPort used twice in the Pod."""
    errs, seen = [], set()
    for i, c in enumerate(containers):
        for j, port in enumerate(c.get("ports") or []):
            if not port.get("hostPort"):
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{port['hostPort']}"
            if key in seen:
                errs.append(errors.duplicate(f"{path}[{i}].ports[{j}].hostPort", key))
            seen.add(key)
    return errs


def validate_ports(ports: list[Obj], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        idx = f"{path}[{i}]"
        name = port.get("name") or ""
        if name and port_name_errors(name):
            errs += [errors.invalid(f"{idx}.name", name, m) for m in port_name_errors(name)]
        elif name in names:
            errs.append(errors.duplicate(f"{idx}.name", name))
        elif name:
            names.add(name)
        if not port.get("containerPort"):
            errs.append(errors.required(f"{idx}.containerPort"))
        else:
            errs += _port_number(port["containerPort"], f"{idx}.containerPort")
        if port.get("hostPort"):
            errs += _port_number(port["hostPort"], f"{idx}.hostPort")
        protocol = port.get("protocol") or ""
        if not protocol:
            errs.append(errors.required(f"{idx}.protocol"))
        elif protocol not in PROTOCOLS:
            errs.append(errors.not_supported(f"{idx}.protocol", protocol, PROTOCOLS))
        host_ip = port.get("hostIP")
        if host_ip and not _is_ip(host_ip):
            errs.append(errors.invalid(f"{idx}.hostIP", host_ip, "must be a valid IP address, "
                                       "(e.g. 10.9.8.7 or 2001:db8::ffff)"))
    return errs


def _field_ref(ref: Obj, path: str) -> list[FieldError]:
    field_path = ref.get("fieldPath") or ""
    if not ref.get("apiVersion"):
        return [errors.required(f"{path}.apiVersion")]
    if not field_path:
        return [errors.required(f"{path}.fieldPath")]
    base = re.sub(r"\['[^']*'\]$", "", field_path)
    if field_path in ENV_FIELD_PATHS or (base != field_path and base in (
            "metadata.labels", "metadata.annotations")):
        return []
    return [errors.not_supported(f"{path}.fieldPath", field_path, ENV_FIELD_PATHS)]


def _key_selector(ref: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not ref.get("name"):
        errs.append(errors.required(f"{path}.name"))
    key = ref.get("key") or ""
    if not key:
        errs.append(errors.required(f"{path}.key"))
    else:
        errs += [errors.invalid(f"{path}.key", key, m) for m in config_key_errors(key)]
    return errs


def _value_from(env: Obj, path: str) -> list[FieldError]:
    source = env.get("valueFrom")
    if source is None:
        return []
    errs: list[FieldError] = []
    count = 0
    if source.get("fieldRef") is not None:
        count += 1
        errs += _field_ref(source["fieldRef"], f"{path}.fieldRef")
    if source.get("resourceFieldRef") is not None:
        count += 1
        if not source["resourceFieldRef"].get("resource"):
            errs.append(errors.required(f"{path}.resourceFieldRef.resource"))
    for key in ("configMapKeyRef", "secretKeyRef"):
        if source.get(key) is not None:
            count += 1
            errs += _key_selector(source[key], f"{path}.{key}")
    if count == 0:
        errs.append(errors.invalid(path, "", "must specify one of: `fieldRef`, "
                                   "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
    elif env.get("value"):
        errs.append(errors.invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(errors.invalid(path, "", "may not have more than one field specified at a "
                                   "time"))
    return errs


def validate_env(env: list[Obj], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env):
        idx = f"{path}[{i}]"
        name = var.get("name") or ""
        if not name:
            errs.append(errors.required(f"{idx}.name"))
        errs += [errors.invalid(f"{idx}.name", name, m) for m in env_name_errors(name)]
        errs += _value_from(var, f"{idx}.valueFrom")
    return errs


def validate_env_from(sources: list[Obj], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(sources):
        idx = f"{path}[{i}]"
        prefix = source.get("prefix") or ""
        if prefix:
            errs += [errors.invalid(f"{idx}.prefix", prefix, m) for m in env_name_errors(prefix)]
        count = 0
        for key in ("configMapRef", "secretRef"):
            ref = source.get(key)
            if ref is None:
                continue
            count += 1
            name = ref.get("name") or ""
            if not name:
                errs.append(errors.required(f"{idx}.{key}.name"))
            errs += [errors.invalid(f"{idx}.{key}.name", name, m)
                     for m in (meta.dns1123_subdomain_errors(name) if name else [])]
        if count == 0:
            errs.append(errors.invalid(path, "", "must specify one of: `configMapRef` or "
                                       "`secretRef`"))
        elif count > 1:
            errs.append(errors.invalid(path, "", "may not have more than one field specified "
                                       "at a time"))
    return errs


def _resource_name(name: str, field: str) -> list[FieldError]:
    if "/" not in name and name not in STANDARD_RESOURCES and not name.startswith("hugepages-"):
        return [errors.invalid(field, name, "must be a standard resource for containers")]
    return []


def _resource_values(values: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in sorted(values):
        field = f"{path}[{name}]"
        errs += _resource_name(name, field)
        if quantity.parse_decimal(str(values[name])) < 0:
            errs.append(errors.invalid(field, quantity.canonical(values[name]), NEGATIVE_MSG))
    return errs


def validate_resources(res: Obj, path: str) -> list[FieldError]:
    """ValidateResourceRequirements: names, non-negative values, requests <= limits."""
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    errs = _resource_values(limits, f"{path}.limits")
    errs += _resource_values(requests, f"{path}.requests")
    for name in sorted(requests):
        if name not in limits:
            continue
        req, lim = quantity.canonical(requests[name]), quantity.canonical(limits[name])
        if quantity.parse_decimal(req) > quantity.parse_decimal(lim):
            errs.append(errors.invalid(f"{path}.requests", req, f"must be less than or equal "
                                       f"to {name} limit of {lim}"))
    return errs


def _id_range(sc: Obj, key: str, path: str) -> list[FieldError]:
    value = sc.get(key)
    if value is None or 0 <= value <= 2147483647:
        return []
    return [errors.invalid(f"{path}.{key}", value, ID_RANGE_MSG)]


def validate_security_context(sc: Obj | None, path: str) -> list[FieldError]:
    """The basics of ValidateSecurityContext / ValidatePodSecurityContext: id ranges."""
    if not isinstance(sc, dict):
        return []
    errs: list[FieldError] = []
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        errs += _id_range(sc, key, path)
    for i, gid in enumerate(sc.get("supplementalGroups") or []):
        if not 0 <= gid <= 2147483647:
            errs.append(errors.invalid(f"{path}.supplementalGroups[{i}]", gid, ID_RANGE_MSG))
    errs += _seccomp_profile(sc.get("seccompProfile"), f"{path}.seccompProfile")
    errs += _apparmor_profile(sc.get("appArmorProfile"), f"{path}.appArmorProfile")
    return errs


def validate_container_security_context(sc: Obj | None, path: str,
                                        host_users: bool = True) -> list[FieldError]:
    """ValidateSecurityContext's cross-field rules on top of the common ones."""
    errs = validate_security_context(sc, path)
    if not isinstance(sc, dict):
        return errs
    proc_mount = sc.get("procMount")
    if proc_mount is not None:
        if proc_mount not in PROC_MOUNTS:
            errs.append(errors.not_supported(f"{path}.procMount", proc_mount, PROC_MOUNTS))
        elif host_users and proc_mount == "Unmasked":
            errs.append(errors.invalid(f"{path}.procMount", proc_mount,
                                       "`hostUsers` must be false to use `Unmasked`"))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(errors.invalid(path, sc, "cannot set `allowPrivilegeEscalation` to "
                                       "false and `privileged` to true"))
        if "CAP_SYS_ADMIN" in ((sc.get("capabilities") or {}).get("add") or []):
            errs.append(errors.invalid(path, sc, "cannot set `allowPrivilegeEscalation` to "
                                       "false and `capabilities.Add` CAP_SYS_ADMIN"))
    return errs


PROC_MOUNTS = ["Default", "Unmasked"]
PROFILE_TYPES = ["Localhost", "RuntimeDefault", "Unconfined"]


def _profile(profile: Obj | None, path: str, what: str, field: str,
             blank_is_missing: bool) -> list[FieldError]:
    """validateSeccompProfileField / ValidateAppArmorProfileField: a known type, and a
    localhostProfile exactly when the type is Localhost."""
    if not isinstance(profile, dict):
        return []
    errs = []
    kind = profile.get("type") or ""
    if not kind:
        errs.append(errors.required(f"{path}.type", f"type is required when {field} is set"))
    elif kind not in PROFILE_TYPES:
        errs.append(errors.not_supported(f"{path}.type", kind, PROFILE_TYPES))
    local = profile.get("localhostProfile")
    if kind == "Localhost":
        if local is None or (blank_is_missing and not local.strip()):
            errs.append(errors.required(f"{path}.localhostProfile",
                                        f"must be set when {what} type is Localhost"))
    elif local is not None:  # upstream shows the whole seccomp profile, the AppArmor name
        errs.append(errors.invalid(f"{path}.localhostProfile",
                                   local if blank_is_missing else profile,
                                   f"can only be set when {what} type is Localhost"))
    return errs


def _seccomp_profile(sp: Obj | None, path: str) -> list[FieldError]:
    return _profile(sp, path, "seccomp", "seccompProfile", blank_is_missing=False)


def _apparmor_profile(profile: Obj | None, path: str) -> list[FieldError]:
    return _profile(profile, path, "AppArmor", "appArmorProfile", blank_is_missing=True)


def _handler(handler: Obj, path: str, kinds: tuple[str, ...]) -> list[FieldError]:
    """validateHandler: exactly one handler type, each checked."""
    errs: list[FieldError] = []
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        if count:
            errs.append(errors.forbidden(f"{path}.{kind}", "may not specify more than 1 "
                                         "handler type"))
            continue
        count += 1
        errs += _action(kind, action, f"{path}.{kind}")
    if count == 0:
        errs.append(errors.required(path, "must specify a handler type"))
    return errs


def _action(kind: str, action: Obj, path: str) -> list[FieldError]:
    if kind == "exec":
        return [] if action.get("command") else [errors.required(f"{path}.command")]
    if kind == "sleep":
        seconds = action.get("seconds", 0)
        return [] if seconds >= 0 else [errors.invalid(f"{path}.seconds", seconds, NEGATIVE_MSG)]
    if kind == "grpc":
        return _port_number(action.get("port", 0), f"{path}.port")
    errs: list[FieldError] = []
    if kind == "httpGet" and not action.get("path"):
        errs.append(errors.required(f"{path}.path"))
    errs += _port_number(action.get("port", 0), f"{path}.port")
    scheme = action.get("scheme")
    if kind == "httpGet" and scheme not in ("HTTP", "HTTPS"):
        errs.append(errors.not_supported(f"{path}.scheme", scheme, ["HTTP", "HTTPS"]))
    return errs


def validate_probe(probe: Obj | None, path: str, *, liveness: bool = False) -> list[FieldError]:
    if probe is None:
        return []
    errs = _handler(probe, path, HANDLERS)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        value = probe.get(key, 0)
        if value < 0:
            errs.append(errors.invalid(f"{path}.{key}", value, NEGATIVE_MSG))
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None and grace <= 0:
        errs.append(errors.invalid(f"{path}.terminationGracePeriodSeconds", grace,
                                   "must be greater than 0"))
    if liveness and probe.get("successThreshold", 1) != 1:
        errs.append(errors.invalid(f"{path}.successThreshold", probe["successThreshold"],
                                   "must be 1"))
    return errs


def validate_lifecycle(lifecycle: Obj | None, path: str) -> list[FieldError]:
    if lifecycle is None:
        return []
    errs: list[FieldError] = []
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errs += _handler(lifecycle[hook], f"{path}.{hook}", (*HANDLERS[:3], "sleep"))
    return errs


def validate_container_fields(c: Obj, path: str) -> list[FieldError]:
    """ports, env, envFrom (before volumeMounts in Kubernetes' order)."""
    errs = validate_ports(c.get("ports") or [], f"{path}.ports")
    errs += validate_env(c.get("env") or [], f"{path}.env")
    errs += validate_env_from(c.get("envFrom") or [], f"{path}.envFrom")
    return errs


def validate_container_tail(c: Obj, path: str) -> list[FieldError]:
    """resources and securityContext (after imagePullPolicy in Kubernetes' order)."""
    errs = validate_resources(c.get("resources") or {}, f"{path}.resources")
    errs += validate_container_security_context(c.get("securityContext"),
                                                f"{path}.securityContext")
    return errs


def validate_app_container_hooks(c: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if c.get("restartPolicy") is not None:
        errs.append(errors.forbidden(f"{path}.restartPolicy", "may not be set for non-init "
                                     "containers"))
    errs += validate_lifecycle(c.get("lifecycle"), f"{path}.lifecycle")
    errs += validate_probe(c.get("livenessProbe"), f"{path}.livenessProbe", liveness=True)
    errs += validate_probe(c.get("readinessProbe"), f"{path}.readinessProbe")
    errs += validate_probe(c.get("startupProbe"), f"{path}.startupProbe", liveness=True)
    return errs


def validate_init_container_hooks(c: Obj, path: str) -> list[FieldError]:
    policy = c.get("restartPolicy")
    if policy is not None and policy != "Always":
        return [errors.not_supported(f"{path}.restartPolicy", policy, ["Always"])]
    if policy == "Always":  # a sidecar: hooks and probes as for app containers
        errs = validate_lifecycle(c.get("lifecycle"), f"{path}.lifecycle")
        errs += validate_probe(c.get("livenessProbe"), f"{path}.livenessProbe", liveness=True)
        errs += validate_probe(c.get("readinessProbe"), f"{path}.readinessProbe")
        return errs + validate_probe(c.get("startupProbe"), f"{path}.startupProbe",
                                     liveness=True)
    errs = []
    for key, detail in (("lifecycle", INIT_FORBIDDEN), ("livenessProbe", INIT_FORBIDDEN),
                        ("readinessProbe", "may not be set for init containers"),
                        ("startupProbe", INIT_FORBIDDEN)):
        if c.get(key) is not None:
            errs.append(errors.forbidden(f"{path}.{key}", detail))
    return errs
