"""Kubeconfig resolution and a small Kubernetes API client on the stdlib (`http.client`, `ssl`).

Only the standard Kubernetes API is spoken, so `--context` of any cluster works. Loading is
pure (dicts in, dicts out); sending is confined to `Client`. Set `PODHOST_TRACE_START=1` to have
the client print `first-request <monotonic ns>` on stderr just before its first request (used by
`bench/cli_startup.py`).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from podhost.cli import hints
from podhost.cli.errors import CliError, StatusError

if TYPE_CHECKING:  # imported where used: the CLI starts faster without them
    import http.client
    import ssl

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
USER_AGENT = "podhost/0.1.0"
_TRACED = False


# ---- kubeconfig (pure) -------------------------------------------------------------------

def kubeconfig_paths(explicit: str | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl would read: --kubeconfig, else $KUBECONFIG (a list), else
    ~/.kube/config."""
    variables = os.environ if env is None else env
    if explicit:
        return [Path(explicit)]
    if variables.get("KUBECONFIG"):
        return [Path(p) for p in variables["KUBECONFIG"].split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def merge_kubeconfigs(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge like client-go: for each named entry and for current-context the first file wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": [], "current-context": ""}
    for config in configs:
        for key in ("clusters", "users", "contexts"):
            seen = {e.get("name") for e in merged[key]}
            merged[key] += [e for e in config.get(key) or [] if e.get("name") not in seen]
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    return merged


def _parse_yaml(text: str) -> Any:
    import yaml  # lazy: only verbs that talk to a cluster pay for it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on certs
    return yaml.load(text, Loader=loader)


_LOADED: dict[tuple[Path, ...], dict[str, Any]] = {}


def load_kubeconfig(paths: list[Path]) -> dict[str, Any]:
    key = tuple(paths)
    if key not in _LOADED:
        _LOADED[key] = _load_kubeconfig(paths)
    copy: dict[str, Any] = json.loads(json.dumps(_LOADED[key]))
    return copy


def _load_kubeconfig(paths: list[Path]) -> dict[str, Any]:
    import yaml
    configs = []
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise CliError(hints.unreadable_config(path, e)) from e
        try:
            data = _parse_yaml(text) or {}
        except yaml.YAMLError as e:
            raise CliError(f"error loading config file \"{path}\": {e}") from e
        if isinstance(data, dict):
            configs.append(_absolutize(data, path.parent))
    return merge_kubeconfigs(configs)


def _absolutize(config: dict[str, Any], base: Path) -> dict[str, Any]:
    for key, sub, fields in (("clusters", "cluster", ("certificate-authority",)),
                             ("users", "user", ("client-certificate", "client-key"))):
        for entry in config.get(key) or []:
            inner = entry.get(sub) or {}
            for f in fields:
                if inner.get(f) and not os.path.isabs(inner[f]):
                    inner[f] = str(base / inner[f])
    return config


def _named(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item.get("name") == name:
            return item.get(what[:-1] if what != "contexts" else "context") or {}
    raise CliError(f"error: {what[:-1]} \"{name}\" does not exist" if what != "contexts"
                   else f"error: context \"{name}\" does not exist")


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one cluster as one user."""

    server: str
    context: str = ""
    namespace: str = "default"
    ca_data: bytes | None = None
    ca_file: str | None = None
    insecure: bool = False
    cert_data: bytes | None = None
    key_data: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None


def _data(inner: dict[str, Any], key: str) -> bytes | None:
    value = inner.get(f"{key}-data")
    return base64.b64decode(value) if value else None


def resolve(config: dict[str, Any], context: str | None = None,
            namespace: str | None = None) -> Connection:
    """Pick the context (explicit, else current-context) and build its Connection."""
    name = context or config.get("current-context") or ""
    if not name:
        raise CliError("error: no context is set: use --context or set current-context "
                       "in your kubeconfig")
    ctx = _named(config.get("contexts") or [], name, "contexts")
    cluster = _named(config.get("clusters") or [], ctx.get("cluster", ""), "clusters")
    user = _named(config.get("users") or [], ctx["user"], "users") if ctx.get("user") else {}
    if not cluster.get("server"):
        raise CliError(f"error: cluster \"{ctx.get('cluster')}\" has no server")
    return Connection(
        server=cluster["server"].rstrip("/"), context=name,
        namespace=namespace or ctx.get("namespace") or "default",
        ca_data=_data(cluster, "certificate-authority"),
        ca_file=cluster.get("certificate-authority"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_data=_data(user, "client-certificate"), key_data=_data(user, "client-key"),
        cert_file=user.get("client-certificate"), key_file=user.get("client-key"),
        token=user.get("token") or _token_file(user.get("tokenFile")),
        username=user.get("username"), password=user.get("password"))


def _token_file(path: str | None) -> str | None:
    return Path(path).read_text().strip() if path else None


# ---- requests (pure building) --------------------------------------------------------------

def resource_path(resource: str, namespace: str | None, name: str | None = None,
                  sub: str | None = None, group_version: str = "v1") -> str:
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(resource)
    if name:
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)


def with_query(path: str, query: dict[str, Any] | list[tuple[str, str]] | None) -> str:
    if not query:
        return path
    items = query.items() if isinstance(query, dict) else query
    pairs = [(k, "true" if v is True else str(v)) for k, v in items if v not in (None, False, "")]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def auth_headers(conn: Connection) -> dict[str, str]:
    if conn.token:
        return {"Authorization": f"Bearer {conn.token}"}
    if conn.username is not None:
        raw = f"{conn.username}:{conn.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return {}


# ---- sending -----------------------------------------------------------------------------

def _trace_first_request() -> None:
    global _TRACED
    if not _TRACED and os.environ.get("PODHOST_TRACE_START"):
        _TRACED = True
        print(f"first-request {time.monotonic_ns()}", file=sys.stderr, flush=True)


def _memfile(data: bytes) -> str:
    fd = os.memfd_create("podhost-cred")
    os.write(fd, data)
    return f"/proc/self/fd/{fd}"


def ssl_context(conn: Connection) -> ssl.SSLContext:
    import ssl
    # Only the cluster's CA when it has one: loading the system store costs ~20 ms.
    has_ca = bool(conn.ca_data or conn.ca_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if has_ca else ssl.create_default_context()
    if conn.insecure:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    elif conn.ca_data:
        ctx.load_verify_locations(cadata=conn.ca_data.decode())
    elif conn.ca_file:
        ctx.load_verify_locations(cafile=conn.ca_file)
    cert = _memfile(conn.cert_data) if conn.cert_data else conn.cert_file
    key = _memfile(conn.key_data) if conn.key_data else conn.key_file
    if cert and not conn.token:
        ctx.load_cert_chain(cert, key)
    return ctx


@dataclass
class Client:
    conn: Connection
    _ctx: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def namespace(self) -> str:
        return self.conn.namespace

    def _address(self) -> tuple[str, str, int]:
        url = urlsplit(self.conn.server)
        port = url.port or (443 if url.scheme == "https" else 80)
        return url.scheme, url.hostname or "127.0.0.1", port

    def connection(self, timeout: float | None = 30) -> http.client.HTTPConnection:
        import http.client
        scheme, host, port = self._address()
        if scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        if self._ctx is None:
            self._ctx = ssl_context(self.conn)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ctx)

    def headers(self, accept: str = "application/json", content_type: str | None = None,
                ) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": USER_AGENT, **auth_headers(self.conn)}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def open(self, method: str, path: str, body: Any = None, *, accept: str = "application/json",
             content_type: str = "application/json", timeout: float | None = 30
             ) -> http.client.HTTPResponse:
        """Send a request and return the open response; raise StatusError on >= 400."""
        data = None if body is None else (body if isinstance(body, bytes)
                                          else json.dumps(body).encode())
        conn = self.connection(timeout)
        _trace_first_request()
        try:
            conn.request(method, path, body=data,
                         headers=self.headers(accept, content_type if data is not None else None))
            response = conn.getresponse()
        except OSError as e:
            raise CliError(hints.unreachable(self.conn.server, e)) from e
        if response.status >= 400:
            raise status_error(response.status, response.read())
        return response

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = self.open(method, path, body, **kw)
        raw = response.read()
        return json.loads(raw) if raw and "json" in response.getheader("Content-Type", "") else raw

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def watch(self, path: str, accept: str = "application/json") -> Iterator[dict[str, Any]]:
        response = self.open("GET", path, accept=accept, timeout=None)
        for line in response:
            if line.strip():
                yield json.loads(line)


def status_error(code: int, raw: bytes) -> StatusError:
    try:
        status = json.loads(raw)
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = raw.decode(errors="replace").strip() or "the server returned an error"
        status = {"kind": "Status", "status": "Failure", "code": code, "message": text,
                  "reason": _REASONS.get(code, "")}
    return StatusError(status)


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 422: "Invalid", 500: "InternalError"}
