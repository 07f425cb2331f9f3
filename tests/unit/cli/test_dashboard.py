"""`podhost dashboard`'s proxy (cli/dashboard.py): Host header check, read-only, static files
packaged with podhost; without a cluster (the API is never reached in these cases)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest

from podhost.cli import client as clientmod
from podhost.cli import dashboard


@pytest.fixture
def server() -> Iterator[int]:
    conn = clientmod.Connection(server="http://127.0.0.1:9", context="test", token="s3cret")
    srv = dashboard.DashboardServer("127.0.0.1", 0, clientmod.Client(conn))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def get(port: int, path: str, host: str | None = None, method: str = "GET"
        ) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
    conn.putheader("Content-Length", "0")
    conn.endheaders()
    response = conn.getresponse()
    return response.status, response.read()


def test_accepted_hosts() -> None:
    assert dashboard.accepted_hosts("127.0.0.1", 8001) == {
        "127.0.0.1:8001", "localhost:8001", "[::1]:8001"}
    assert dashboard.accepted_hosts("10.0.0.5", 80) == {"10.0.0.5:80"}


def test_foreign_host_refused(server: int) -> None:
    for host in ("evil.example", f"evil.example:{server}", "127.0.0.1:1", ""):
        code, body = get(server, "/", host)
        assert code == 403 and b"Host header" in body, host
    assert get(server, "/", f"localhost:{server}")[0] == 200


def test_read_only(server: int) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert get(server, "/api/v1/namespaces", method=method)[0] == 405
    code, _ = get(server, "/api/v1/namespaces/d/pods/p/exec?command=sh")
    assert code == 403
    code, _ = get(server, "/api/v1/namespaces/d/pods/p/portforward")
    assert code == 403


def test_static_files_without_secrets(server: int) -> None:
    code, page = get(server, "/")
    assert code == 200 and b'src="/static/app.js"' in page
    for name in dashboard.STATIC:
        code, body = get(server, f"/static/{name}")
        assert code == 200 and b"s3cret" not in body
    assert get(server, "/static/../dashboard.py")[0] == 404
    code, info = get(server, "/dashboard/info")
    assert code == 200 and b"s3cret" not in info and b'"context": "test"' in info


def test_api_unreachable_is_502(server: int) -> None:
    code, body = get(server, "/api/v1/namespaces")
    assert code == 502 and b"s3cret" not in body


def test_dot_segments_and_encoded_paths_refused(server: int) -> None:
    for path in ("/api/v1/namespaces/d/pods/p/x/../exec", "/api/v1/namespaces/d/pods/p/%65xec",
                 "/api/v1/namespaces/d/pods/p/./attach"):
        assert get(server, path)[0] == 403, path
