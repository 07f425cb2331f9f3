"""The ingress proxy's configuration, rendered purely from a model: HAProxy's `haproxy.cfg` and
the `crt-list` of TLS certificates selected by SNI.

Routes are tried in order, first match wins, in the precedence of the Ingress API: hosts
written out before wildcard hosts before rules without a host; within a host, the longest
path first, and an Exact path before a Prefix path of the same length. A Prefix path matches
element-wise (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`; a trailing slash is
ignored); ImplementationSpecific paths are Prefix paths. Every value comes from a validated
object and is checked again here before it reaches the file (no quoting games).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PATH = re.compile(r"^/[A-Za-z0-9/\-._~%!$&'()*+,;=:@]*$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


class ConfigError(ValueError):
    """A value that may not be written into the proxy's configuration."""


@dataclass(frozen=True, order=True)
class Server:
    ip: str
    port: int


@dataclass(frozen=True)
class Backend:
    name: str  # `<namespace>_<service>_<port>`
    servers: tuple[Server, ...]  # the ready endpoints


@dataclass(frozen=True)
class Route:
    host: str  # "" any host; "*.example.com" one label under example.com
    path: str  # "/" for every path
    exact: bool  # Exact; False for Prefix and ImplementationSpecific
    backend: str


@dataclass(frozen=True)
class Cert:
    file: str  # file name under the certificate directory
    hosts: tuple[str, ...]  # SNI names ("" tuple: the names in the certificate)


@dataclass(frozen=True)
class ProxyModel:
    address: str
    http_port: int  # 0: no HTTP listener
    https_port: int  # 0: no HTTPS listener
    routes: tuple[Route, ...] = ()
    backends: tuple[Backend, ...] = ()
    default_backend: str = ""  # "" answers 404
    certs: tuple[Cert, ...] = ()


@dataclass(frozen=True)
class ProxyFiles:
    """Where the proxy's files are (absolute paths)."""
    state_dir: str
    cert_dir: str
    default_cert: str
    crt_list: str
    socket: str


def prefix_path(path: str) -> str:
    """A Prefix path without its trailing slashes (`/` stays `/`)."""
    return path.rstrip("/") or "/"


def route_order(route: Route) -> tuple[int, int, int]:
    host_rank = 2 if not route.host else (1 if route.host.startswith("*.") else 0)
    return host_rank, -len(route.path), 0 if route.exact else 1


def sorted_routes(routes: tuple[Route, ...]) -> list[Route]:
    """Precedence order; for equal keys the first written (the oldest Ingress) wins."""
    return sorted(routes, key=route_order)


def _check(model: ProxyModel) -> None:
    try:
        ipaddress.ip_address(model.address)
    except ValueError as e:
        raise ConfigError(f"not an IP address: {model.address!r}") from e
    for r in model.routes:
        if r.host and not _HOST.fullmatch(r.host):
            raise ConfigError(f"bad host {r.host!r}")
        if not _PATH.fullmatch(r.path):
            raise ConfigError(f"bad path {r.path!r}")
    names = [b.name for b in model.backends] + [c.file for c in model.certs]
    for name in names:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"bad name {name!r}")
    for c in model.certs:
        for h in c.hosts:
            if not _HOST.fullmatch(h):
                raise ConfigError(f"bad TLS host {h!r}")


def _host_acl(host: str) -> str:
    if not host:
        return ""
    if host.startswith("*."):
        suffix = host[1:].replace(".", "[.]")  # hosts hold [a-z0-9.-] only: no backslashes
        return f"{{ var(txn.host) -m reg ^[^.]+{suffix}$ }}"
    return f"{{ var(txn.host) -m str {host} }}"


def route_conditions(route: Route) -> list[str]:
    """The `if` conditions (alternatives, each a list of ACLs) that select `route`."""
    host = _host_acl(route.host)
    if route.exact:
        paths = [f"{{ path -m str {route.path} }}"]
    else:
        p = prefix_path(route.path)
        paths = [""] if p == "/" else [f"{{ path -m str {p} }}", f"{{ path -m beg {p}/ }}"]
    return [" ".join(x for x in (host, path) if x) for path in paths]


def _use_backend(route: Route) -> str:
    conditions = route_conditions(route)
    if conditions == [""]:
        return f"    use_backend {route.backend}"
    return f"    use_backend {route.backend} if " + " || ".join(conditions)


GLOBAL = """\
global
    stats socket {socket} mode 600 level admin expose-fd listeners
    hard-stop-after 30s
    noreuseport
    maxconn 4096
    nbthread 1
    tune.ssl.default-dh-param 2048

defaults
    mode http
    option http-keep-alive
    option idle-close-on-response
    option forwardfor
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 30s
    timeout http-keep-alive 10s
"""


def render(model: ProxyModel, files: ProxyFiles) -> str:
    """haproxy.cfg for `model`."""
    _check(model)
    lines = [GLOBAL.format(socket=files.socket), "frontend ingress"]
    addr = f"[{model.address}]" if ":" in model.address else model.address
    if model.http_port:
        lines.append(f"    bind {addr}:{model.http_port}")
    if model.https_port:
        lines.append(f"    bind {addr}:{model.https_port} ssl crt-list {files.crt_list} "
                     "alpn http/1.1")
        lines.append("    http-request set-header X-Forwarded-Proto https if { ssl_fc }")
    lines.append("    http-request set-var(txn.host) req.hdr(host),field(1,:),lower")
    lines += [_use_backend(r) for r in sorted_routes(model.routes)]
    lines.append(f"    default_backend {model.default_backend or 'podhost_not_found'}")
    lines.append("")
    for b in sorted(model.backends, key=lambda b: b.name):
        lines.append(f"backend {b.name}")
        lines.append("    balance roundrobin")
        for i, s in enumerate(sorted(b.servers)):
            ip = f"[{s.ip}]" if ":" in s.ip else s.ip
            lines.append(f"    server e{i} {ip}:{s.port}")
        lines.append("")
    lines.append("backend podhost_not_found")
    lines.append('    http-request return status 404 content-type text/plain string '
                 '"404 page not found\\n"')
    lines.append("")
    return "\n".join(lines)


def render_crt_list(model: ProxyModel, files: ProxyFiles) -> str:
    """The crt-list: the default certificate first (used when no SNI name matches), then one
    line per TLS entry with its hosts as SNI filters."""
    _check(model)
    lines = [files.default_cert]
    for c in model.certs:
        lines.append(" ".join([f"{files.cert_dir}/{c.file}", *c.hosts]))
    return "\n".join(lines) + "\n"
