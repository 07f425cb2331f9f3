"""`kubectl get ingress,ingressclass` columns, as the API server's printers make them
(pkg/printers/internalversion: printIngress, printIngressClass)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.types import Obj

LOAD_BALANCER_WIDTH = 16
INGRESS_COLUMNS: list[Column] = [
    NAME,
    ("Class", "string", "", 0, "The name of the IngressClass resource that should be used for "
     "additional configuration"),
    ("Hosts", "string", "", 0, "Hosts that incoming requests are matched against before the "
     "ingress rule"),
    ("Address", "string", "", 0, "Address is a list containing ingress points for the "
     "load-balancer"),
    ("Ports", "string", "", 0, "Ports of TLS configurations that open"),
    AGE,
]
INGRESSCLASS_COLUMNS: list[Column] = [
    NAME,
    ("Controller", "string", "", 0, "Controller that is responsible for handling this class"),
    ("Parameters", "string", "", 0, "A reference to a resource with additional parameters"),
    AGE,
]


def hosts_text(rules: list[Obj]) -> str:
    """formatHosts: up to three hosts, then `+ N more...`; `*` when no rule has a host."""
    shown: list[str] = []
    more = False
    for rule in rules:
        if len(shown) == 3:
            more = True
        if not more and rule.get("host"):
            shown.append(str(rule["host"]))
    if not shown:
        return "*"
    text = ",".join(shown)
    return f"{text} + {len(rules) - 3} more..." if more else text


def address_text(status: Obj, wide: bool = False) -> str:
    """ingressLoadBalancerStatusStringer: sorted unique IPs (else hostnames), cut at 16."""
    found = {str(i.get("ip") or i.get("hostname")) for i in
             (status.get("loadBalancer") or {}).get("ingress") or [] if i.get("ip") or
             i.get("hostname")}
    text = ",".join(sorted(found))
    if not wide and len(text) > LOAD_BALANCER_WIDTH:
        text = text[:LOAD_BALANCER_WIDTH - 3] + "..."
    return text


def ingress_cells(ing: Obj, now: datetime) -> list[Any]:
    spec = ing.get("spec") or {}
    return [ing["metadata"]["name"], spec.get("ingressClassName") or "<none>",
            hosts_text(spec.get("rules") or []), address_text(ing.get("status") or {}),
            "80, 443" if spec.get("tls") else "80", age(ing, now)]


def ingressclass_cells(ic: Obj, now: datetime) -> list[Any]:
    spec = ic.get("spec") or {}
    params = spec.get("parameters")
    text = "<none>"
    if params:
        text = str(params.get("kind") or "")
        if params.get("apiGroup") is not None:
            text += "." + str(params["apiGroup"])
        text += "/" + str(params.get("name") or "")
    return [ic["metadata"]["name"], spec.get("controller", ""), text, age(ic, now)]

