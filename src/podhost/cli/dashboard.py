"""`podhost dashboard`: a live page of the Pods and what they share, served by a local proxy.

Like `kubectl proxy` and `minikube dashboard`, the proxy listens on the loopback, holds the
kubeconfig's credentials (the page never sees them) and forwards the page's requests to the
cluster's API; it speaks only the standard API, so `--context` of any cluster works. It is
read-only: GET only, never exec, attach or port-forward, and a request whose Host header is not
the proxy's own address is refused (DNS rebinding, as `kubectl proxy --accept-hosts` does). The
page (index.html, app.js, style.css) is packaged with podhost: no CDN, it works offline.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import unquote

from podhost.cli import client as clientmod
from podhost.cli.context import client_for

JS = "text/javascript; charset=utf-8"
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": JS, "view.js": JS,
          "overview.js": JS, "util.js": JS, "style.css": "text/css; charset=utf-8"}
# kubectl proxy's default --reject-paths, and the port-forward of the same shape
REJECT = re.compile(r"^/api/.*/pods/[^/]+/(exec|attach|portforward)(/|$)")
API = re.compile(r"^/(api|apis)(/|$)")
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"), ("Cache-Control", "no-store"),
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "
     "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"))
CHUNK = 65536


def accepted_hosts(address: str, port: int) -> set[str]:
    """The Host headers the proxy answers: its own address and port (loopback names when it
    listens on the loopback)."""
    names = {address}
    if address in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    elif ":" in address:
        names.add(f"[{address}]")
    return {f"{n}:{port}" for n in names}


def static_file(name: str) -> bytes | None:
    if name not in STATIC:
        return None
    return (resources.files("podhost.cli") / "dashboard_static" / name).read_bytes()


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, port: int, client: clientmod.Client) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, port), Handler)
        self.client = client
        self.hosts = accepted_hosts(address, self.server_address[1])
        self.info = {"context": client.conn.context, "server": client.conn.server,
                     "namespace": client.conn.namespace}


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "podhost-dashboard"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are not logged
        return

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in SECURITY_HEADERS:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _status(self, code: int, reason: str, message: str) -> None:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}
        self._send(code, json.dumps(body).encode(), "application/json")

    def _host_ok(self) -> bool:
        if (self.headers.get("Host") or "").lower() in self.server.hosts:
            return True
        self._status(403, "Forbidden", "Forbidden: the Host header is not this proxy's own "
                     "address")
        return False

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            path = "/static/index.html"
        if path == "/dashboard/info":
            return self._send(200, json.dumps(self.server.info).encode(), "application/json")
        if path.startswith("/static/"):
            body = static_file(path.removeprefix("/static/"))
            if body is None:
                return self._status(404, "NotFound", "no such file")
            return self._send(200, body, STATIC[path.removeprefix("/static/")])
        if not API.match(path):
            return self._status(404, "NotFound", "the dashboard serves /, /static/ and the API")
        plain = unquote(path)
        if REJECT.match(plain) or self.headers.get("Upgrade") or \
                any(part in (".", "..") for part in plain.split("/")[1:]):
            return self._status(403, "Forbidden", "the dashboard is read-only: exec, attach "
                                "and port-forward are not proxied")
        self._proxy()

    do_HEAD = do_GET

    def _refuse(self) -> None:
        if self._host_ok():
            self._status(405, "MethodNotAllowed", "the dashboard is read-only (GET only)")

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _proxy(self) -> None:
        """Forward the GET with the kubeconfig's credentials; stream the answer (watches,
        logs) as it comes."""
        client = self.server.client
        timeout = None if "watch=" in self.path or "follow=" in self.path else 30
        try:
            conn = client.connection(timeout)
            conn.request("GET", self.path,
                         headers=client.headers(self.headers.get("Accept") or "application/json"))
            upstream = conn.getresponse()
        except OSError as e:
            return self._status(502, "ServiceUnavailable", f"the API server cannot be "
                                f"reached: {e}")
        self.send_response(upstream.status)
        self.send_header("Content-Type", upstream.getheader("Content-Type") or
                         "application/octet-stream")
        for key, value in SECURITY_HEADERS:
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            while self.command != "HEAD" and (chunk := upstream.read1(CHUNK)):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the page went away, or the API server ended the stream
        finally:
            conn.close()
        self.close_connection = True


def run(args: argparse.Namespace) -> int:
    client = client_for(args)
    try:
        server = DashboardServer(args.address, args.port, client)
    except OSError as e:
        print(f"error: cannot listen on {args.address}:{args.port}: {e}", file=sys.stderr)
        return 1
    host = f"[{args.address}]" if ":" in args.address else args.address
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"Serving the dashboard of context {client.conn.context or '(none)'} on {url} "
          "(Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        import webbrowser
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
