"""What to do, after kubectl's own text, for the mistakes a newcomer makes first: a node that is
not running, a kubeconfig from before the node was re-created, a non-root user reading root's
files (docs/troubleshooting.md has one row for each)."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

NOT_RUNNING = ("hint: no API server listens there: start the node with `podhost up` "
               "(`podhost status` shows its state)")
STALE_CA = ("hint: this kubeconfig does not trust the node's CA: the node was re-created "
            "since it was written. Take the current one: `sudo podhost kubeconfig > FILE` (a "
            "node merges its context into ~/.kube/config again each time it starts)")
STALE_CREDENTIALS = ("hint: the node does not know this kubeconfig's token or certificate: "
                     "the node was re-created since it was written? `sudo podhost kubeconfig > "
                     "FILE` gives the current one")
ROOT_ONLY = ("hint: the node's files are root's only: run the command as root (sudo), or give "
             "your user a copy: `sudo podhost kubeconfig > ~/.kube/podhost.yaml && "
             "export KUBECONFIG=~/.kube/podhost.yaml`")


def local(server: str) -> bool:
    return (urlsplit(server).hostname or "") in LOCAL_HOSTS


def unreachable(server: str, e: OSError) -> str:
    """kubectl's text for a server that cannot be reached, and for a local one what to do."""
    host = urlsplit(server).netloc
    if isinstance(e, ConnectionRefusedError):
        text = (f"The connection to the server {host} was refused - "
                "did you specify the right host or port?")
        return f"{text}\n{NOT_RUNNING}" if local(server) else text
    if isinstance(e, ssl.SSLCertVerificationError):
        text = ("Unable to connect to the server: tls: failed to verify certificate: x509: "
                "certificate signed by unknown authority")
        return f"{text}\n{STALE_CA}" if local(server) else text
    return f"Unable to connect to the server: {e}"


def unreadable_config(path: Path, e: OSError) -> str:
    """kubectl's text for a kubeconfig it cannot read; for a permission problem, what to do."""
    if isinstance(e, PermissionError):
        return (f"error: error loading config file \"{path}\": open {path}: permission denied"
                f"\n{ROOT_ONLY}")
    return f"error: error loading config file \"{path}\": {e}"
