"""The ingress proxy process with Debian's HAProxy: start, a reload that forks a new worker and
serves the new configuration, a refused configuration leaving the running one, adoption by a
second ProxyProcess (a restarted node), and a stop leaving nothing listening."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import pytest

from podhost.network import NetworkError
from podhost.network.haproxy import HAPROXY, ProxyProcess, running
from podhost.network.ingress import ProxyModel, render, render_crt_list

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60),
              pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="no haproxy")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_start_reload_refuse_adopt_stop(tmp_path: Path) -> None:
    port, port2 = free_port(), free_port()
    proxy = ProxyProcess(tmp_path / "ingress")
    proxy.prepare()
    assert (tmp_path / "ingress").stat().st_mode & 0o777 == 0o700
    model = ProxyModel("127.0.0.1", port, 0)
    proxy.apply(render(model, proxy.files), render_crt_list(model, proxy.files))
    try:
        assert status(port) == 404 and proxy.starts == 1
        pid = proxy.pid
        moved = ProxyModel("127.0.0.1", port2, 0)
        proxy.apply(render(moved, proxy.files), render_crt_list(moved, proxy.files))
        assert proxy.pid == pid and proxy.starts == 1  # reloaded in place
        assert status(port2) == 404
        with pytest.raises(NetworkError, match="haproxy refused the configuration"):
            proxy.apply("frontend x\n    bogus directive\n", "")
        assert status(port2) == 404  # the running configuration stays
        again = ProxyProcess(tmp_path / "ingress")
        assert again.adopt() and again.pid == pid and running(tmp_path / "ingress") == pid
    finally:
        proxy.stop()
    for p in (port, port2):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0
    assert running(tmp_path / "ingress") == 0
