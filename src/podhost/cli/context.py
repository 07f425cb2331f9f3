"""From command-line flags to a Client: kubeconfig choice, resource names (from the server's
discovery), node auto-start."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from podhost.cli import client as clientmod
from podhost.cli import discovery
from podhost.cli.discovery import Resource as Resource
from podhost.cli.errors import CliError
from podhost.cli.localnode import root_of, start_background

_current: clientmod.Client | None = None  # the client of this command (set by client_for)
_discovered: dict[str, list[Resource]] = {}  # server → its resources, once per process


def resources() -> list[Resource]:
    """The resource types of the server this command talks to (discovery, cached)."""
    if _current is None:
        raise CliError("error: no server to ask for its resource types")
    server = _current.conn.server
    if server not in _discovered:
        _discovered[server] = discovery.discover(_current.get)
    return _discovered[server]


def lookup(name: str) -> Resource:
    """`pods`, `pod`, `po`, `Pod`, `deployments.apps` → the Resource; kubectl's error
    otherwise."""
    found = discovery.match(resources(), name)
    if found is None:
        raise CliError(f"error: the server doesn't have a resource type \"{name}\"")
    return found


def expand(name: str) -> list[Resource]:
    """A resource argument that may be a category (`all`): kubectl's CategoryExpander."""
    found = discovery.match(resources(), name)
    if found is not None:
        return [found]
    in_category = [r for r in discovery.category(resources(), name) if "list" in r.verbs
                   or not r.verbs]
    if not in_category:
        raise CliError(f"error: the server doesn't have a resource type \"{name}\"")
    return in_category


def by_kind(kind: str, api_version: str = "") -> Resource:
    """The resource of a manifest's apiVersion and kind."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    for r in resources():
        if r.kind == kind and (not api_version or r.group == group):
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
    global _current
    _current = clientmod.Client(conn)
    return _current


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
