"""core/v1 Service: defaults, validation and ClusterIP / NodePort allocation in the API server's
words (pkg/apis/core/v1/defaults.go, pkg/apis/core/validation ValidateService and
pkg/registry/core/service's allocators).

Pure: allocation is given the addresses and ports already taken and a random source.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import Any

from podhost.api import errors, meta
from podhost.api.errors import FieldError
from podhost.api.types import Obj

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)
TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
DEFAULT_AFFINITY_TIMEOUT = 10800
_IANA_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
               "start with an alphabetic character, and end with an alphanumeric character "
               "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
               "'[a-z]([-a-z0-9]*[a-z0-9])?')")


def dns1035_label_errors(value: str) -> list[str]:
    """IsDNS1035Label: Service names are DNS labels that start with a letter."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035.match(value):
        errs.append(DNS1035_MSG)
    return errs


class GoStrings(list[str]):
    """A []string value rendered the way field errors print it (`[]string{"10.0.0.5"}`)."""

    def __str__(self) -> str:
        return "[]string{" + ", ".join(f'"{s}"' for s in self) + "}"


class GoServicePort:
    """The key of a duplicate Service port, as `%#v` prints core.ServicePort."""

    def __init__(self, protocol: str, port: Any) -> None:
        self.protocol, self.port = protocol, port

    def __str__(self) -> str:
        return (f'core.ServicePort{{Name:"", Protocol:"{self.protocol}", '
                f"AppProtocol:(*string)(nil), Port:{self.port}, TargetPort:intstr.IntOrString"
                '{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def parse_cidr(text: str) -> ipaddress.IPv4Network:
    """The service range: IPv4, at least /28 (room for kubernetes and kube-dns)."""
    net = ipaddress.ip_network(text, strict=False)
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"{text}: only an IPv4 service range is supported")
    if net.prefixlen > 28:
        raise ValueError(f"{text}: the service range must be /28 or larger")
    return net


def api_service_ip(cidr: ipaddress.IPv4Network) -> str:
    """The `kubernetes` Service's address: the first of the range."""
    return str(cidr.network_address + 1)


def dns_service_ip(cidr: ipaddress.IPv4Network) -> str:
    """The cluster DNS address: the tenth of the range (10.96.0.10 by default)."""
    return str(cidr.network_address + 10)


def is_headless(svc: Obj) -> bool:
    return bool((svc.get("spec") or {}).get("clusterIP") == "None")


def service_type(svc: Obj) -> str:
    return str((svc.get("spec") or {}).get("type") or "ClusterIP")


def wants_node_ports(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    if service_type(svc) == "NodePort":
        return True
    return service_type(svc) == "LoadBalancer" and \
        spec.get("allocateLoadBalancerNodePorts", True) is not False


# -- defaults --------------------------------------------------------------------------------
def default_service(svc: Obj) -> Obj:
    """SetDefaults_Service plus what the registry fills before allocation."""
    spec = svc.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        cfg.setdefault("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    svc.setdefault("status", {}).setdefault("loadBalancer", {})
    return svc


# -- validation ------------------------------------------------------------------------------
def _port_number(value: Any, field: str) -> list[FieldError]:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        return [errors.invalid(field, value, "must be between 1 and 65535, inclusive")]
    return []


def _target_port(value: Any, field: str) -> list[FieldError]:
    if isinstance(value, int):
        return _port_number(value, field)
    text = str(value)
    problems = []
    if len(text) > 15:
        problems.append("must be no more than 15 characters")
    if not _IANA_NAME.match(text):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    elif "--" in text:
        problems.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", text):
        problems.append("must contain at least one letter (a-z)")
    return [errors.invalid(field, text, p) for p in problems]


def _ports(spec: Obj, kind: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ports = spec.get("ports") or []
    names: set[str] = set()
    node_ports: set[tuple[int, str]] = set()
    seen: set[tuple[Any, str]] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        key = (port.get("port"), port.get("protocol") or "TCP")
        if key in seen:
            errs.append(errors.duplicate(path, GoServicePort(key[1], key[0])))
        seen.add(key)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(errors.required(f"{path}.name"))
        elif name:
            errs += [errors.invalid(f"{path}.name", name, m)
                     for m in meta.dns1123_label_errors(name)]
            if name in names:
                errs.append(errors.duplicate(f"{path}.name", name))
            names.add(name)
        errs += _port_number(port.get("port"), f"{path}.port")
        proto = port.get("protocol") or "TCP"
        if proto not in PROTOCOLS:
            errs.append(errors.not_supported(f"{path}.protocol", proto, PROTOCOLS))
        errs += _target_port(port.get("targetPort"), f"{path}.targetPort")
        node_port = port.get("nodePort")
        if node_port:
            if kind not in ("NodePort", "LoadBalancer"):
                errs.append(errors.forbidden(f"{path}.nodePort",
                                             f"may not be used when `type` is '{kind}'"))
            elif (node_port, proto) in node_ports:
                errs.append(errors.duplicate(f"{path}.nodePort", node_port))
            node_ports.add((node_port, proto))
    return errs


def _cluster_ips(spec: Obj, kind: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ips = spec.get("clusterIPs") or []
    if spec.get("clusterIP") and ips and ips[0] != spec["clusterIP"]:
        errs.append(errors.invalid("spec.clusterIPs", GoStrings(ips),
                                   "first value must match `clusterIP`"))
    if kind == "ExternalName":
        if spec.get("clusterIP"):
            errs.append(errors.forbidden("spec.clusterIPs",
                                         "may not be set for ExternalName services"))
        return errs
    for i, ip in enumerate(ips):
        if ip == "None":
            if i or len(ips) > 1:
                errs.append(errors.invalid(f"spec.clusterIPs[{i}]", ip,
                                           "must be a valid IP address"))
            elif kind in ("NodePort", "LoadBalancer"):
                errs.append(errors.invalid(f"spec.clusterIPs[{i}]", ip,
                                           f"may not be set to 'None' for {kind} services"))
            continue
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            errs.append(errors.invalid(f"spec.clusterIPs[{i}]", ip,
                                       "must be empty, 'None', or a valid IP address"))
    return errs


def validate_service(svc: Obj) -> list[FieldError]:
    """ValidateService: the checks a user meets first, with upstream's paths and texts."""
    errs: list[FieldError] = []
    spec = svc.get("spec") or {}
    kind = service_type(svc)
    if kind not in TYPES:
        errs.append(errors.not_supported("spec.type", kind, TYPES))
    if not spec.get("ports") and not is_headless(svc) and kind != "ExternalName":
        errs.append(errors.required("spec.ports"))
    errs += _ports(spec, kind)
    errs += _cluster_ips(spec, kind)
    if kind == "ExternalName":
        ext = spec.get("externalName") or ""
        if not ext:
            errs.append(errors.required("spec.externalName"))
        else:
            errs += [errors.invalid("spec.externalName", ext, msg)
                     for msg in meta.dns1123_subdomain_errors(ext.rstrip("."))]
    affinity = spec.get("sessionAffinity") or "None"
    if affinity not in AFFINITIES:
        errs.append(errors.not_supported("spec.sessionAffinity", affinity, AFFINITIES))
    timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}) \
        .get("timeoutSeconds")
    if affinity == "ClientIP" and timeout is not None and not 0 < timeout <= 86400:
        errs.append(errors.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                   timeout, "must be greater than 0 and less than 86400"))
    for key in ("internalTrafficPolicy", "externalTrafficPolicy"):
        value = spec.get(key)
        if value is not None and value not in TRAFFIC_POLICIES:
            errs.append(errors.not_supported(f"spec.{key}", value, TRAFFIC_POLICIES))
    return errs


def validate_service_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateServiceUpdate: a ClusterIP is kept until the type becomes ExternalName."""
    errs = validate_service(new)
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    old_ips = old_spec.get("clusterIPs") or []
    new_ips = new_spec.get("clusterIPs") or []
    if old_ips and service_type(new) != "ExternalName" and new_ips[:1] != old_ips[:1]:
        errs.append(errors.invalid("spec.clusterIPs[0]", new_ips[0] if new_ips else "",
                                   "may not change once set"))
    return errs


def normalize_update(new: Obj, old: Obj) -> Obj:
    """What the registry fixes up on an update before validating it (normalizeClusterIPs,
    dropTypeDependentFields): a changed `clusterIP` with untouched `clusterIPs` carries over,
    and fields the new type has no use for go when the client left them as they were (a patch
    from NodePort to ClusterIP drops the allocated nodePorts)."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    ips, old_ips = spec.get("clusterIPs"), old_spec.get("clusterIPs")
    if spec.get("clusterIP") != old_spec.get("clusterIP") and ips == old_ips:
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        else:
            spec.pop("clusterIPs", None)
    if service_type(new) == "ExternalName" and spec.get("clusterIPs") == old_ips:
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)
    if wants_node_ports(old) and not wants_node_ports(new):
        old_ports = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
                     for p in old_spec.get("ports") or []}
        for p in spec.get("ports") or []:
            if p.get("nodePort") and \
                    old_ports.get((p.get("port"), p.get("protocol") or "TCP")) == p["nodePort"]:
                del p["nodePort"]
    if service_type(new) not in ("NodePort", "LoadBalancer") and \
            spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)
    if service_type(new) != "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") == \
            old_spec.get("allocateLoadBalancerNodePorts"):
        spec.pop("allocateLoadBalancerNodePorts", None)
    return new


# -- allocation ------------------------------------------------------------------------------
def _range_offset(size: int) -> int:
    """calculateRangeOffset: the low band kept for static addresses (16 to 256)."""
    return min(max(16, size // 16), 256)


def allocate_ip(cidr: ipaddress.IPv4Network, used: set[str], rng: random.Random) -> str | None:
    """A free address: random in the upper (dynamic) band first, then the lower band."""
    first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1
    offset = first + _range_offset(last - first + 1)
    for low, high in ((offset, last), (first, offset - 1)):
        if low > high:
            continue
        for _ in range(64):
            candidate = str(ipaddress.IPv4Address(rng.randint(low, high)))
            if candidate not in used:
                return candidate
        for value in range(low, high + 1):
            candidate = str(ipaddress.IPv4Address(value))
            if candidate not in used:
                return candidate
    return None


def assign(svc: Obj, old: Obj | None, cidr: ipaddress.IPv4Network, used_ips: set[str],
           used_node_ports: set[tuple[int, str]], rng: random.Random) -> list[FieldError]:
    """Give `svc` its ClusterIP and NodePorts (in place), keeping those of `old`; the
    allocators' errors when an asked-for address or port is outside its range or taken."""
    spec = svc.setdefault("spec", {})
    kind = service_type(svc)
    if kind == "ExternalName":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        return []
    errs = _assign_ip(spec, old, cidr, used_ips, rng)
    if not errs:
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                 for p in ((old or {}).get("spec") or {}).get("ports") or []}
    mine = {(p, proto) for p in old_ports.values() if p for proto in PROTOCOLS}
    taken = used_node_ports - mine
    for i, port in enumerate(spec.get("ports") or []):
        if not wants_node_ports(svc):
            if not port.get("nodePort"):
                port.pop("nodePort", None)
            continue
        proto = port.get("protocol") or "TCP"
        wanted = port.get("nodePort") or old_ports.get((port.get("port"), proto))
        if wanted:
            errs += _check_node_port(wanted, proto, taken, f"spec.ports[{i}].nodePort")
            port["nodePort"] = wanted
        else:
            free = [p for p in range(NODE_PORT_RANGE[0], NODE_PORT_RANGE[1] + 1)
                    if (p, proto) not in taken]
            if not free:
                errs.append(errors.invalid(f"spec.ports[{i}].nodePort", 0,
                                           "range is full"))
                continue
            port["nodePort"] = rng.choice(free)
        taken.add((port["nodePort"], proto))
    return errs


def _assign_ip(spec: Obj, old: Obj | None, cidr: ipaddress.IPv4Network, used: set[str],
               rng: random.Random) -> list[FieldError]:
    old_ips = ((old or {}).get("spec") or {}).get("clusterIPs") or []
    wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
    if old_ips and (not wanted or wanted == old_ips[0]):
        spec["clusterIP"], spec["clusterIPs"] = old_ips[0], list(old_ips)
        return []
    if wanted == "None":
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        return []
    if not wanted:
        ip = allocate_ip(cidr, used, rng)
        if ip is None:
            return [errors.invalid("spec.clusterIPs", GoStrings([]),
                                   "failed to allocate IP: range is full")]
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        return []
    try:
        addr = ipaddress.ip_address(wanted)
    except ValueError:
        return []  # validation reports it
    problem = ""
    if addr not in cidr or addr in (cidr.network_address, cidr.broadcast_address):
        problem = (f"the provided IP ({wanted}) is not in the valid range. The range of valid "
                   f"IPs is {cidr}")
    elif wanted in used:
        problem = "provided IP is already allocated"
    if problem:
        return [errors.invalid("spec.clusterIPs", GoStrings(spec.get("clusterIPs") or [wanted]),
                               f"failed to allocate IP {wanted}: {problem}")]
    spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]
    return []


def _check_node_port(port: int, proto: str, taken: set[tuple[int, str]],
                     field: str) -> list[FieldError]:
    low, high = NODE_PORT_RANGE
    if not low <= port <= high:
        return [errors.invalid(field, port, "provided port is not in the valid range. The "
                               f"range of valid ports is {low}-{high}")]
    if (port, proto) in taken:
        return [errors.invalid(field, port, "provided port is already allocated")]
    return []


def used_addresses(services: list[Obj], skip: Obj | None = None) -> tuple[set[str],
                                                                          set[tuple[int, str]]]:
    """ClusterIPs and (nodePort, protocol) pairs held by `services` (but `skip`)."""
    skip_uid = ((skip or {}).get("metadata") or {}).get("uid")
    ips: set[str] = set()
    ports: set[tuple[int, str]] = set()
    for svc in services:
        if skip_uid and svc["metadata"].get("uid") == skip_uid:
            continue
        spec = svc.get("spec") or {}
        ips.update(ip for ip in spec.get("clusterIPs") or [] if ip != "None")
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                ports.add((int(p["nodePort"]), p.get("protocol") or "TCP"))
    return ips, ports
