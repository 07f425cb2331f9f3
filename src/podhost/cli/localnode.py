"""The local node's process: its state directory, pid file and readiness, and starting
`podhost serve` in the background (for `podhost up` and for the CLI's auto-start)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from podhost import config
from podhost.cli import client
from podhost.cli.errors import CliError

if TYPE_CHECKING:
    import subprocess

READY_TIMEOUT = 60.0


def root_of(args: argparse.Namespace) -> Path:
    return Path(args.root) if getattr(args, "root", None) else config.default_root()


def running_pid(root: Path) -> int | None:
    """The pid in <root>/podhost.pid if that process is alive."""
    try:
        pid = int((root / "podhost.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def local_server(root: Path) -> str | None:
    try:
        return client.resolve(client.load_kubeconfig([root / "kubeconfig"])).server
    except (CliError, OSError):
        return None


def readyz(server: str, timeout: float = 1.0) -> bool:
    import http.client
    import ssl
    from urllib.parse import urlsplit
    url = urlsplit(server)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(url.hostname or "127.0.0.1", url.port or 6443,
                                       timeout=timeout, context=ctx)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_ready(root: Path, process: subprocess.Popen[bytes] | None, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    log = root / "serve.log"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise CliError(f"error: podhost serve exited with {process.returncode}; "
                           f"see {log}:\n{_tail(log)}")
        server = local_server(root) if running_pid(root) else None
        if server and readyz(server):
            return server
        time.sleep(0.1)
    raise CliError(f"error: the node did not become ready in {timeout:.0f}s; see {log}")


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def serve_argv(root: Path, args: argparse.Namespace | None = None) -> list[str]:
    argv = [sys.executable, "-m", "podhost", "serve", "--root", str(root)]
    if args is not None:
        argv += ["--port", str(args.port), "--address", args.address]
        if args.node_name:
            argv += ["--node-name", args.node_name]
        if getattr(args, "pod_cidr", None):
            argv += ["--pod-cidr", args.pod_cidr]
        if getattr(args, "service_cidr", None):
            argv += ["--service-cidr", args.service_cidr]
        if getattr(args, "pod_security_default", None):
            argv += ["--pod-security-default", args.pod_security_default]
        if getattr(args, "admission_control_config_file", None):
            argv += ["--admission-control-config-file",
                     str(args.admission_control_config_file.resolve())]
        if args.no_kubeconfig_update:
            argv.append("--no-kubeconfig-update")
    return argv


def start_background(root: Path, args: argparse.Namespace | None = None,
                     quiet: bool = False) -> str:
    """Start `podhost serve` detached, logging to <root>/serve.log; wait until /readyz."""
    if os.geteuid() != 0:
        raise CliError("error: the node must run as root: run `sudo podhost up`")
    import subprocess
    root.mkdir(parents=True, exist_ok=True, mode=0o711)
    (root / "podhost.pid").unlink(missing_ok=True)
    with open(root / "serve.log", "ab") as log:
        process = subprocess.Popen(serve_argv(root, args), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   close_fds=True)
    if not quiet:
        print(f"Starting podhost node (root {root}, log {root / 'serve.log'}) ...",
              file=sys.stderr)
    return wait_ready(root, process, READY_TIMEOUT)
