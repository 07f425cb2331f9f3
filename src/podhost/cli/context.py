"""From command-line flags to a Client: kubeconfig choice, resource names, node auto-start."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from podhost.cli import client as clientmod
from podhost.cli.errors import CliError
from podhost.cli.localnode import root_of, start_background


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    group_version: str = "v1"

    @property
    def qualified(self) -> str:
        """`deployment.apps`, `pod`: how kubectl names the type in its messages."""
        group = self.group_version.rpartition("/")[0]
        return f"{self.singular}.{group}" if group else self.singular


RESOURCES = [
    Resource("pods", "pod", "Pod"),
    Resource("configmaps", "configmap", "ConfigMap"),
    Resource("secrets", "secret", "Secret"),
    Resource("events", "event", "Event"),
    Resource("services", "service", "Service"),
    Resource("endpoints", "endpoints", "Endpoints"),
    Resource("endpointslices", "endpointslice", "EndpointSlice",
             group_version="discovery.k8s.io/v1"),
    Resource("serviceaccounts", "serviceaccount", "ServiceAccount"),
    Resource("persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim"),
    Resource("namespaces", "namespace", "Namespace", namespaced=False),
    Resource("nodes", "node", "Node", namespaced=False),
    Resource("deployments", "deployment", "Deployment", group_version="apps/v1"),
    Resource("replicasets", "replicaset", "ReplicaSet", group_version="apps/v1"),
    Resource("statefulsets", "statefulset", "StatefulSet", group_version="apps/v1"),
    Resource("daemonsets", "daemonset", "DaemonSet", group_version="apps/v1"),
    Resource("controllerrevisions", "controllerrevision", "ControllerRevision",
             group_version="apps/v1"),
    Resource("jobs", "job", "Job", group_version="batch/v1"),
    Resource("cronjobs", "cronjob", "CronJob", group_version="batch/v1"),
]
SHORT = {"po": "pods", "cm": "configmaps", "ev": "events", "svc": "services",
         "sa": "serviceaccounts", "pvc": "persistentvolumeclaims", "ns": "namespaces",
         "no": "nodes", "deploy": "deployments", "rs": "replicasets", "sts": "statefulsets",
         "ds": "daemonsets", "cj": "cronjobs", "ep": "endpoints"}


def lookup(name: str) -> Resource:
    """`pods`, `pod`, `po`, `Pod`, `pods.v1` → the Resource; kubectl's error otherwise."""
    key = name.lower().split(".")[0]
    key = SHORT.get(key, key)
    for r in RESOURCES:
        if key in (r.plural, r.singular, r.kind.lower()):
            return r
    raise CliError(f"error: the server doesn't have a resource type \"{name}\"")


def by_kind(kind: str) -> Resource:
    for r in RESOURCES:
        if r.kind == kind:
            return r
    raise CliError(f"error: resource mapping not found for kind \"{kind}\": "
                   "ensure CRDs are installed first")


def add_connection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=argparse.SUPPRESS,
                   help="path to the kubeconfig file to use")
    p.add_argument("--context", default=argparse.SUPPRESS,
                   help="the name of the kubeconfig context to use")
    p.add_argument("-n", "--namespace", default=argparse.SUPPRESS,
                   help="the namespace scope for this request")
    p.add_argument("--root", default=argparse.SUPPRESS,
                   help="podhost state directory of the local node (default $PODHOST_ROOT)")


def _files_with_context(paths: list[Path]) -> bool:
    return any(p.exists() for p in paths)


def connection(args: argparse.Namespace) -> tuple[clientmod.Connection, bool]:
    """The Connection to use and whether it is the local podhost node (may be auto-started)."""
    explicit = getattr(args, "kubeconfig", None)
    context = getattr(args, "context", None)
    namespace = getattr(args, "namespace", None)
    paths = clientmod.kubeconfig_paths(explicit)
    local_file = root_of(args) / "kubeconfig"
    config = clientmod.load_kubeconfig(paths)
    names = {c.get("name") for c in config["contexts"]}
    if explicit or context or config.get("current-context") in names:
        conn = clientmod.resolve(config, context, namespace)
        return conn, not context and _same_server(conn, local_file)
    if "podhost" in names:
        return clientmod.resolve(config, "podhost", namespace), True
    if local_file.exists():
        return clientmod.resolve(clientmod.load_kubeconfig([local_file]), None, namespace), True
    return clientmod.Connection(server="", namespace=namespace or "default"), True


def _same_server(conn: clientmod.Connection, local_file: Path) -> bool:
    try:
        local = clientmod.resolve(clientmod.load_kubeconfig([local_file]))
    except (CliError, OSError):
        return False
    return local.server == conn.server


def client_for(args: argparse.Namespace) -> clientmod.Client:
    conn, local = connection(args)
    if local and os.environ.get("PODHOST_NO_AUTOSTART") is None and _needs_start(conn):
        start_background(root_of(args))
        conn, _ = connection(args)
    if not conn.server:
        raise CliError("error: no kubeconfig found and the local node is not running: "
                       "start it with `podhost up`")
    return clientmod.Client(conn)


def _needs_start(conn: clientmod.Connection) -> bool:
    if not conn.server:
        return os.geteuid() == 0
    if os.geteuid() != 0:
        return False
    import socket
    from urllib.parse import urlsplit
    url = urlsplit(conn.server)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def namespace_of(args: argparse.Namespace, client: clientmod.Client) -> str | None:
    return None if getattr(args, "all_namespaces", False) else client.namespace
