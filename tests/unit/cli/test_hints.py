"""kubectl's text first, then what to do: node not running, a kubeconfig from before the node
was re-created, root's files read by another user."""

from __future__ import annotations

import ssl
from pathlib import Path

from podhost.cli import hints
from podhost.cli.errors import render_status


def test_refused_local_server_says_start_the_node() -> None:
    text = hints.unreachable("https://127.0.0.1:6443", ConnectionRefusedError())
    assert text.splitlines() == [
        "The connection to the server 127.0.0.1:6443 was refused - did you specify the right "
        "host or port?", hints.NOT_RUNNING]
    remote = hints.unreachable("https://10.0.0.5:6443", ConnectionRefusedError())
    assert "hint" not in remote


def test_unknown_ca_is_kubectls_x509_text_with_the_fix() -> None:
    text = hints.unreachable("https://127.0.0.1:6443", ssl.SSLCertVerificationError(1, "x"))
    assert text.splitlines() == [
        "Unable to connect to the server: tls: failed to verify certificate: x509: "
        "certificate signed by unknown authority", hints.STALE_CA]
    assert "podhost kubeconfig" in hints.STALE_CA


def test_unreadable_kubeconfig() -> None:
    path = Path("/var/lib/podhost/kubeconfig")
    text = hints.unreadable_config(path, PermissionError(13, "Permission denied"))
    assert text.splitlines() == [
        'error: error loading config file "/var/lib/podhost/kubeconfig": open '
        "/var/lib/podhost/kubeconfig: permission denied", hints.ROOT_ONLY]


def test_unauthorized_is_kubectls_text_with_the_fix() -> None:
    status = {"kind": "Status", "code": 401, "reason": "Unauthorized", "message": "Unauthorized"}
    assert render_status(status).splitlines() == [
        "error: You must be logged in to the server (Unauthorized)", hints.STALE_CREDENTIALS]
