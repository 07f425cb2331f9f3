"""`top pod` and `top node`: usage from metrics.k8s.io/v1beta1, printed as kubectl prints it.

kubectl's metrics printer ends every cell with a tab (so every column, the last too, is padded
to its widest cell + 3), shows CPU as `MilliValue()` + `m` and memory as whole `Mi`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.context import client_for
from podhost.cli.errors import CliError, StatusError

GROUP_VERSION = "metrics.k8s.io/v1beta1"
POD_COLUMNS = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
NODE_COLUMNS = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
METRICS_DELAY = 120.0  # s: younger Pods may simply not be measured yet
MIN_WIDTH, PADDING = 6, 3


# ---- formatting (pure) -------------------------------------------------------------------

def tab_layout(rows: list[list[str]]) -> str:
    """Go's tabwriter as kubectl's top uses it: every cell tab-terminated, so padded."""
    if not rows:
        return ""
    widths = [max(max(len(r[i]) for r in rows) + PADDING, MIN_WIDTH)
              for i in range(len(rows[0]))]
    return "".join("".join(c.ljust(w) for c, w in zip(row, widths)) + "\n" for row in rows)


def _decimal(text: str) -> Decimal:
    from podhost.api.quantity import parse_decimal
    return parse_decimal(text)


def milli(text: str) -> int:
    """resource.Quantity.MilliValue(): rounded up."""
    return math.ceil(_decimal(text) * 1000)


def cpu_cell(text: str) -> str:
    return f"{milli(text)}m"


def memory_cell(text: str) -> str:
    return f"{math.ceil(_decimal(text)) // (1024 * 1024)}Mi"


def percent_cell(usage: str, available: str | None) -> str:
    if not available or milli(available) == 0:
        return "<unknown>"
    return f"{milli(usage) * 100 // milli(available)}%"


def pod_total(pod: Obj, resource: str) -> Decimal:
    return sum((_decimal(c["usage"].get(resource, "0")) for c in pod.get("containers") or []),
               Decimal(0))


def sort_pods(items: list[Obj], sort_by: str) -> list[Obj]:
    if not sort_by:
        return items
    return sorted(items, key=lambda p: pod_total(p, sort_by), reverse=True)


def pod_rows(items: list[Obj], containers: bool, all_namespaces: bool,
             headers: bool) -> list[list[str]]:
    head = (["NAMESPACE"] if all_namespaces else []) + (["POD"] if containers else []) \
        + POD_COLUMNS
    rows = [head] if headers else []
    for pod in items:
        m = pod["metadata"]
        lead = [m.get("namespace", "")] if all_namespaces else []
        if containers:
            rows += [lead + [m["name"], c["name"], cpu_cell(c["usage"]["cpu"]),
                             memory_cell(c["usage"]["memory"])]
                     for c in pod.get("containers") or []]
        else:
            rows.append(lead + [m["name"], f"{math.ceil(pod_total(pod, 'cpu') * 1000)}m",
                                f"{math.ceil(pod_total(pod, 'memory')) // 2**20}Mi"])
    return rows


def node_rows(items: list[Obj], nodes: dict[str, Obj], headers: bool,
              capacity: bool = False) -> list[list[str]]:
    rows = [NODE_COLUMNS] if headers else []
    for item in items:
        name = item["metadata"]["name"]
        status = (nodes.get(name) or {}).get("status") or {}
        available = status.get("capacity" if capacity else "allocatable") or {}
        usage = item["usage"]
        rows.append([name, cpu_cell(usage["cpu"]), percent_cell(usage["cpu"],
                                                                available.get("cpu")),
                     memory_cell(usage["memory"]),
                     percent_cell(usage["memory"], available.get("memory"))])
    for name in sorted(set(nodes) - {i["metadata"]["name"] for i in items}):
        rows.append([name] + ["<unknown>"] * 4)
    return rows


# ---- requests ----------------------------------------------------------------------------

def metrics_path(resource: str, ns: str | None, name: str | None = None,
                 query: dict[str, Any] | None = None) -> str:
    path = clientmod.resource_path(resource, ns, name, group_version=GROUP_VERSION)
    return clientmod.with_query(path, query)


def fetch(client: clientmod.Client, path: str) -> Obj:
    try:
        return dict(client.get(path))
    except StatusError as e:
        if e.code_http == 404 and e.status.get("details", {}).get("group") is None:
            raise CliError("error: Metrics API not available") from e
        raise


def _selectors(args: argparse.Namespace) -> dict[str, Any]:
    return {"labelSelector": args.selector or None,
            "fieldSelector": getattr(args, "field_selector", None) or None}


def pod_metrics(client: clientmod.Client, args: argparse.Namespace, ns: str | None) -> list[Obj]:
    if args.name:
        return [fetch(client, metrics_path("pods", ns, args.name))]
    return list(fetch(client, metrics_path("pods", ns, None, _selectors(args)))["items"])


def empty_metrics_error(client: clientmod.Client, args: argparse.Namespace,
                        ns: str | None) -> None:
    """kubectl's verifyEmptyMetrics: no Pods is fine; old Pods without metrics are an error."""
    path = clientmod.with_query(clientmod.resource_path("pods", ns), _selectors(args))
    pods = client.get(path).get("items") or []
    if not pods:
        return
    now = datetime.now(timezone.utc)
    for pod in pods:
        m = pod["metadata"]
        created = datetime.fromisoformat(m["creationTimestamp"].replace("Z", "+00:00"))
        age = (now - created).total_seconds()
        if age > METRICS_DELAY:
            raise CliError(f"error: Metrics not available for pod {m.get('namespace')}/"
                           f"{m['name']}, age: {_go_age(age)}")
    raise CliError("error: metrics not available yet")


def _go_age(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs:.6f}".rstrip("0").rstrip(".") + "s"


# ---- verbs -------------------------------------------------------------------------------

def top(args: argparse.Namespace) -> int:
    verb = TOP.get(getattr(args, "top_resource", None) or "")
    if verb is not None:
        return verb(args)
    raise CliError("error: Required resource not specified.\nUse \"podhost top pod\" or "
                   "\"podhost top node\".")


def top_pod(args: argparse.Namespace) -> int:
    if args.name and args.selector:
        raise CliError("error: only one of NAME or --selector can be provided")
    client = client_for(args)
    ns = None if args.all_namespaces else client.namespace
    items = pod_metrics(client, args, ns)
    if not items:
        empty_metrics_error(client, args, ns)
        print("No resources found" if ns is None else f"No resources found in {ns} namespace.",
              file=sys.stderr)
        return 0
    rows = pod_rows(sort_pods(items, args.sort_by), args.containers, ns is None,
                    not args.no_headers)
    sys.stdout.write(tab_layout(rows))
    return 0


def top_node(args: argparse.Namespace) -> int:
    if args.name and args.selector:
        raise CliError("error: only one of NAME or --selector can be provided")
    client = client_for(args)
    if args.name:
        items = [fetch(client, metrics_path("nodes", None, args.name))]
        nodes = {args.name: client.get(clientmod.resource_path("nodes", None, args.name))}
    else:
        query = {"labelSelector": args.selector or None}
        items = list(fetch(client, metrics_path("nodes", None, None, query))["items"])
        listed = client.get(clientmod.with_query(clientmod.resource_path("nodes", None), query))
        nodes = {n["metadata"]["name"]: n for n in listed.get("items") or []}
    if not items:
        raise CliError("error: metrics not available yet")
    if args.sort_by:
        items.sort(key=lambda n: _decimal(n["usage"][args.sort_by]), reverse=True)
    sys.stdout.write(tab_layout(node_rows(items, nodes, not args.no_headers,
                                          args.show_capacity)))
    return 0


# what `top` shows, by every name kubectl accepts for it
TOP: dict[str, Callable[[argparse.Namespace], int]] = {
    **dict.fromkeys(("pod", "pods", "po"), top_pod),
    **dict.fromkeys(("node", "nodes", "no"), top_node)}
