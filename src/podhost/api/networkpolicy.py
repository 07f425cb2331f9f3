"""networking.k8s.io/v1 NetworkPolicy as the API server has it: its defaults
(pkg/apis/networking/v1/defaults.go), validation with the API server's field paths and words
(pkg/apis/networking/validation ValidateNetworkPolicySpec, metav1 ValidateLabelSelector; the
ObjectMeta is the registry's) and the `kubectl get networkpolicy` columns (printNetworkPolicy).
Pure functions, used by registry/networking/networkpolicies.py.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from podhost.api import errors, objectmeta
from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.containers import port_name_errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import GoValue
from podhost.api.workloads import selector_string

PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"

COLUMNS: list[Column] = [
    NAME,
    ("Pod-Selector", "string", "", 0, "Selects the pods to which this NetworkPolicy object "
     "applies. The array of ingress rules is applied to any pods selected by this field. "
     "Multiple network policies can select the same set of pods. In this case, the ingress "
     "rules for each are combined additively. This field is NOT optional and follows standard "
     "label selector semantics. An empty podSelector matches all pods in this namespace."),
    AGE,
]


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# -- defaults and strategy -------------------------------------------------------------------------
def default(obj: Obj) -> None:
    """SetDefaults_NetworkPolicy (Ingress always, Egress when egress rules are given) and
    SetDefaults_NetworkPolicyPort (protocol TCP)."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for rule in _list(spec.get("ingress")) + _list(spec.get("egress")):
        for port in _list(_dict(rule).get("ports")):
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"


def prepare_create(obj: Obj) -> None:
    default(obj)
    obj["metadata"]["generation"] = 1
    obj.pop("status", None)


def prepare_update(new: Obj, old: Obj) -> None:
    default(new)
    new.pop("status", None)
    generation = int(old["metadata"].get("generation") or 1)
    if new.get("spec") != old.get("spec"):
        generation += 1
    new["metadata"]["generation"] = generation


# -- label selectors (apimachinery's validation) ---------------------------------------------------
def _requirement_errors(req: Obj, path: str, allow_invalid_values: bool) -> list[FieldError]:
    errs = []
    op, values = req.get("operator"), _list(req.get("values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(errors.required(f"{path}.values", "must be specified when `operator` "
                                        "is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(errors.forbidden(f"{path}.values", "may not be specified when "
                                         "`operator` is 'Exists' or 'DoesNotExist'"))
    else:
        errs.append(errors.invalid(f"{path}.operator", op or "", "not a valid selector operator"))
    key = str(req.get("key") or "")
    errs += [errors.invalid(f"{path}.key", key, m) for m in objectmeta.qualified_name_errors(key)]
    if not allow_invalid_values:
        for i, value in enumerate(values):
            errs += [errors.invalid(f"{path}.values[{i}]", value, m)
                     for m in objectmeta.label_value_errors(str(value))]
    return errs


def selector_errors(selector: Any, path: str, allow_invalid_values: bool = False
                    ) -> list[FieldError]:
    """ValidateLabelSelector."""
    sel = _dict(selector)
    errs = objectmeta.labels_errors(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, req in enumerate(_list(sel.get("matchExpressions"))):
        errs += _requirement_errors(_dict(req), f"{path}.matchExpressions[{i}]",
                                    allow_invalid_values)
    return errs


# -- NetworkPolicy ---------------------------------------------------------------------------------
def port_errors(port: Obj, path: str) -> list[FieldError]:
    """ValidateNetworkPolicyPort."""
    errs = []
    proto = port.get("protocol")
    if proto is not None and proto not in PROTOCOLS:
        errs.append(errors.not_supported(f"{path}.protocol", proto, PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if number is None:
        if end is not None:
            errs.append(errors.invalid(f"{path}.endPort", end, "may not be specified when "
                                       "`port` is not specified"))
    elif isinstance(number, int):
        if not 1 <= number <= 65535:
            errs.append(errors.invalid(f"{path}.port", number, PORT_RANGE_MSG))
        if end is not None:
            if end < number:
                errs.append(errors.invalid(f"{path}.endPort", end,
                                           "must be greater than or equal to `port`"))
            if not 1 <= end <= 65535:
                errs.append(errors.invalid(f"{path}.endPort", end, PORT_RANGE_MSG))
    else:
        if end is not None:
            errs.append(errors.invalid(f"{path}.endPort", end, "may not be specified when "
                                       "`port` is non-numeric"))
        errs += [errors.invalid(f"{path}.port", number, m) for m in port_name_errors(str(number))]
    return errs


def _cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netutils.ParseCIDRSloppy (the address part may have host bits; leading zeros of IPv4
    octets are read as decimal)."""
    if value.count("/") != 1:
        return None
    addr, _, bits = value.partition("/")
    if "." in addr and ":" not in addr:
        octets = addr.split(".")
        if len(octets) == 4 and all(o.isdigit() and len(o) <= 3 for o in octets):
            addr = ".".join(str(int(o)) for o in octets)
    if not bits.isdigit():
        return None
    try:
        return ipaddress.ip_network(f"{addr}/{int(bits)}", strict=False)
    except ValueError:
        return None


def ip_block_errors(block: Obj, path: str, allowed: frozenset[str]) -> list[FieldError]:
    """ValidateIPBlock (CIDRs of the old object are allowed as they are on update)."""
    cidr_text = block.get("cidr") or ""
    if not cidr_text:
        return [errors.required(f"{path}.cidr", "")]
    cidr = _cidr(cidr_text)
    if cidr is None:
        return [] if cidr_text in allowed else [errors.invalid(f"{path}.cidr", cidr_text, CIDR_MSG)]
    errs = []
    for i, text in enumerate(_list(block.get("except"))):
        except_path = f"{path}.except[{i}]"
        net = _cidr(str(text))
        if net is None:
            if text not in allowed:
                errs.append(errors.invalid(except_path, text, CIDR_MSG))
            continue
        if net.version != cidr.version or net.network_address not in cidr or \
                cidr.prefixlen >= net.prefixlen:
            errs.append(errors.invalid(except_path, text, "must be a strict subset of `cidr`"))
    return errs


def peer_errors(peer: Obj, path: str, allowed: frozenset[str], lax: bool = False
                ) -> list[FieldError]:
    """ValidateNetworkPolicyPeer."""
    errs: list[FieldError] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            errs += selector_errors(peer[key], f"{path}.{key}", lax)
    if peer.get("ipBlock") is not None:
        count += 1
        errs += ip_block_errors(_dict(peer["ipBlock"]), f"{path}.ipBlock", allowed)
    if count == 0:
        errs.append(errors.required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(errors.forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def spec_errors(spec: Obj, allowed: frozenset[str] = frozenset(),
                allow_invalid_values: bool = False) -> list[FieldError]:
    """ValidateNetworkPolicySpec."""
    errs = selector_errors(spec.get("podSelector"), "spec.podSelector", allow_invalid_values)
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_list(spec.get(direction))):
            path = f"spec.{direction}[{i}]"
            for j, port in enumerate(_list(_dict(rule).get("ports"))):
                errs += port_errors(_dict(port), f"{path}.ports[{j}]")
            for j, peer in enumerate(_list(_dict(rule).get(peers))):
                errs += peer_errors(_dict(peer), f"{path}.{peers}[{j}]", allowed,
                                    allow_invalid_values)
    types = _list(spec.get("policyTypes"))
    if len(types) > len(POLICY_TYPES):
        items = ", ".join(f'"{t}"' for t in types)
        errs.append(errors.invalid("spec.policyTypes", GoValue(
            f"&[]networking.PolicyType{{{items}}}"), "may not specify more than two policyTypes"))
        return errs
    for i, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            errs.append(errors.not_supported(f"spec.policyTypes[{i}]", kind, POLICY_TYPES))
    return errs


def _old_cidrs(old: Obj) -> frozenset[str]:
    spec = _dict(old.get("spec"))
    found: set[str] = set()
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for rule in _list(spec.get(direction)):
            for peer in _list(_dict(rule).get(peers)):
                block = _dict(_dict(peer).get("ipBlock"))
                if block:
                    found.add(str(block.get("cidr") or ""))
                    found.update(str(e) for e in _list(block.get("except")))
    return frozenset(found)


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateNetworkPolicyUpdate: the old object's CIDRs, and invalid label values when the
    old podSelector had them, stay allowed."""
    old_spec = _dict(old.get("spec"))
    lax = bool(selector_errors(old_spec.get("podSelector"), "spec.podSelector"))
    return spec_errors(_dict(new.get("spec")), _old_cidrs(old), lax)


# -- kubectl get -----------------------------------------------------------------------------------
def cells(obj: Obj, now: datetime) -> list[Any]:
    """printNetworkPolicy: metav1.FormatLabelSelector of the podSelector (`<none>` when it
    selects every Pod)."""
    selector = selector_string(_dict(_dict(obj.get("spec")).get("podSelector")))
    return [obj["metadata"]["name"], selector or "<none>", age(obj, now)]

