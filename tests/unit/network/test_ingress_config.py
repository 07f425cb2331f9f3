"""The ingress proxy's configuration rendered from a model (pure): route precedence, the
element-wise Prefix match, wildcard hosts, TLS by SNI, values refused before they reach the
file; and the rendered file accepted by `haproxy -c` when HAProxy is installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from podhost.network.haproxy import HAPROXY, self_signed_pem
from podhost.network.ingress import (
    Backend,
    Cert,
    ConfigError,
    ProxyFiles,
    ProxyModel,
    Route,
    Server,
    prefix_path,
    render,
    render_crt_list,
    route_conditions,
    sorted_routes,
)

FILES = ProxyFiles("/s", "/s/certs", "/s/default.pem", "/s/crt-list", "/s/haproxy.sock")


def test_prefix_paths_match_element_wise_and_ignore_a_trailing_slash() -> None:
    assert prefix_path("/foo/") == "/foo" and prefix_path("/") == "/"
    assert route_conditions(Route("", "/foo/", False, "b")) == [
        "{ path -m str /foo }", "{ path -m beg /foo/ }"]
    assert route_conditions(Route("a.localhost", "/", False, "b")) == [
        "{ var(txn.host) -m str a.localhost }"]
    assert route_conditions(Route("a.localhost", "/x", True, "b")) == [
        "{ var(txn.host) -m str a.localhost } { path -m str /x }"]
    assert route_conditions(Route("*.example.com", "/", False, "b")) == [
        "{ var(txn.host) -m reg ^[^.]+[.]example[.]com$ }"]


def test_precedence_hosts_then_longest_path_then_exact() -> None:
    routes = (Route("", "/", False, "any"), Route("*.x.io", "/", False, "wild"),
              Route("a.x.io", "/", False, "a-root"), Route("a.x.io", "/api", False, "a-api"),
              Route("a.x.io", "/api", True, "a-api-exact"), Route("a.x.io", "/api", True, "dup"))
    assert [r.backend for r in sorted_routes(routes)] == [
        "a-api-exact", "dup", "a-api", "a-root", "wild", "any"]


def test_render_lists_ready_servers_default_backend_and_listeners() -> None:
    model = ProxyModel("127.0.0.1", 80, 443,
                       (Route("a.localhost", "/", False, "default_a_80"),),
                       (Backend("default_a_80", (Server("10.244.0.9", 8080),
                                                 Server("10.244.0.3", 8080))),
                        Backend("default_none_80", ())),
                       "default_none_80")
    text = render(model, FILES)
    assert "    bind 127.0.0.1:80\n" in text
    assert "    bind 127.0.0.1:443 ssl crt-list /s/crt-list alpn http/1.1\n" in text
    assert "use_backend default_a_80 if { var(txn.host) -m str a.localhost }\n" in text
    assert "    server e0 10.244.0.3:8080\n    server e1 10.244.0.9:8080\n" in text
    assert "backend default_none_80\n    balance roundrobin\n\n" in text
    assert "    default_backend default_none_80\n" in text
    assert "expose-fd listeners" in text and "option idle-close-on-response" in text
    assert "nbthread 1" in text
    no_https = render(ProxyModel("127.0.0.1", 8080, 0), FILES)
    assert "ssl" not in no_https.split("frontend")[1]
    assert "default_backend podhost_not_found" in no_https


def test_crt_list_has_the_default_first_then_sni_filters() -> None:
    model = ProxyModel("127.0.0.1", 80, 443, certs=(Cert("ns_tls.pem", ("a.localhost",
                                                                         "*.b.localhost")),))
    assert render_crt_list(model, FILES) == (
        "/s/default.pem\n/s/certs/ns_tls.pem a.localhost *.b.localhost\n")


@pytest.mark.parametrize("model", [
    ProxyModel("localhost", 80, 0),
    ProxyModel("127.0.0.1", 80, 0, (Route("a b", "/", False, "x"),)),
    ProxyModel("127.0.0.1", 80, 0, (Route("", "/a b", False, "x"),)),
    ProxyModel("127.0.0.1", 80, 0, (Route("", "/\n", False, "x"),)),
    ProxyModel("127.0.0.1", 80, 0, backends=(Backend("x y", ()),)),
    ProxyModel("127.0.0.1", 80, 0, certs=(Cert("../x", ()),)),
])
def test_values_that_could_change_the_file_are_refused(model: ProxyModel) -> None:
    with pytest.raises(ConfigError):
        render(model, FILES)


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy is not installed")
def test_haproxy_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    files = ProxyFiles(str(tmp_path), str(tmp_path / "certs"), str(tmp_path / "default.pem"),
                       str(tmp_path / "crt-list"), str(tmp_path / "sock"))
    (tmp_path / "certs").mkdir()
    (tmp_path / "default.pem").write_bytes(self_signed_pem())
    (tmp_path / "certs" / "ns_tls.pem").write_bytes(self_signed_pem("a.localhost"))
    model = ProxyModel("127.0.0.1", 18080, 18443,
                       (Route("a.localhost", "/api/", False, "ns_a_80"),
                        Route("*.w.localhost", "/x", True, "ns_a_80")),
                       (Backend("ns_a_80", (Server("10.244.0.3", 80),)),), "ns_a_80",
                       (Cert("ns_tls.pem", ("a.localhost",)),))
    (tmp_path / "haproxy.cfg").write_text(render(model, files))
    (tmp_path / "crt-list").write_text(render_crt_list(model, files))
    check = subprocess.run([HAPROXY, "-c", "-f", str(tmp_path / "haproxy.cfg")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
