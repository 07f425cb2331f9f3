"""Shared bench helpers: a private podhost node, a tiny API client, podman set-up, medians."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PODHOST = str(REPO / ".venv" / "bin" / "podhost")
IMAGES = REPO / "build" / "test-images"
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """`podhost serve` in a temporary root, with the test images loaded."""

    def __init__(self, extra_args: tuple[str, ...] = (), source: Path | None = None) -> None:
        """`source`: run the podhost of another checkout's src/ (a baseline commit) with this
        virtual environment's Python."""
        command = [PODHOST]
        env = None
        if source is not None:
            command = [str(REPO / ".venv" / "bin" / "python"), "-m", "podhost"]
            env = {**os.environ, "PYTHONPATH": str(source / "src")}
        self.dir = Path(tempfile.mkdtemp(prefix="podhost-bench-"))
        self.root = self.dir / "root"
        self.port = free_port()
        self.log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [*command, "serve", "--root", str(self.root), "--port", str(self.port),
             "--no-kubeconfig-update", *extra_args], stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env)
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname, self.ctx.verify_mode = False, ssl.CERT_NONE
        self.conn: http.client.HTTPSConnection | None = None
        deadline = time.monotonic() + 30
        while not self._ready():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit("podhost serve did not start")
            time.sleep(0.05)
        self.token = (self.root / "pki" / "token").read_text().strip()
        for name in ("nginx", "busybox"):
            subprocess.run([*command, "images", "load", "--root", str(self.root),
                            str(IMAGES / f"{name}.oci.tar")], check=True, capture_output=True,
                           env=env)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/readyz",
                                        context=self.ctx, timeout=1):
                return True
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One API call on a kept-alive HTTPS connection, as a client such as kubectl keeps
        one (a TLS handshake per poll would cost the node more CPU than the Pod start)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                        context=self.ctx, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return json.loads(response.read() or b"null")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        return None

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.root / "kubeconfig")}

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the node process has used: steadier than wall time on a
        busy machine."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()
        for mount in sorted(mounts_under(self.root), key=len, reverse=True):  # a failed
            subprocess.run(["umount", "-l", mount], capture_output=True)  # run leaves them
        shutil.rmtree(self.dir, ignore_errors=True)


def ensure_podman() -> bool:
    """Install and configure podman for comparison; False when it cannot be had."""
    if shutil.which("podman") is None:
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "podman"], capture_output=True)
        if r.returncode != 0:
            return False
    conf = Path("/etc/containers/containers.conf")
    if "cgroupfs" not in (conf.read_text() if conf.exists() else ""):
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)
    for name in ("nginx", "busybox"):
        subprocess.run(["podman", "load", "-q", "-i", str(IMAGES / f"{name}.oci.tar")],
                       capture_output=True, check=True)
    return True


# -- many-Pod helpers (bench/many_pods.py, bench/api_latency.py) ------------------------------

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def cmdlines() -> dict[int, str]:
    """pid → command line (NULs as spaces) of every process still readable."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                pass
    return out


def children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except OSError:
        return []


def mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)]


def node_leftovers(node: Node) -> dict[str, list[str]]:
    """What of the node's Pods is still there: conmon/runc processes, mounts, runc state,
    Pod addresses still reserved."""
    root = str(node.root)
    procs = [f"{pid} {cmd[:80]}" for pid, cmd in cmdlines().items()
             if root in cmd and ("conmon" in cmd or "runc" in cmd)]
    runc_root = node.root / "runtime" / "runc"
    state = [p.name for p in runc_root.iterdir()] if runc_root.is_dir() else []
    addresses = [f.name for f in Path("/run/podhost/networks").glob("*/*")
                 if f.name[0].isdigit() and f.read_text().split("\n")[1:2] == [root]]
    return {"processes": procs, "mounts": mounts_under(node.root), "runc state": state,
            "addresses": addresses}


def kill_node_pods(node: Node) -> None:
    """Last-resort clean-up after a failed bench: SIGKILL the node's conmons and containers."""
    root = str(node.root)
    conmons = [pid for pid, cmd in cmdlines().items() if "conmon" in cmd and root in cmd]
    for pid in conmons:
        for victim in [*children(pid), pid]:
            try:
                os.kill(victim, 9)
            except OSError:
                pass
    for mount in sorted(mounts_under(node.root), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


def kubeconfig_token(node: Node) -> str:
    import yaml
    config = yaml.safe_load((node.root / "kubeconfig").read_text())
    return str(config["users"][0]["user"]["token"])


def async_client(node: Node, **limits: int) -> Any:
    """An httpx.AsyncClient for the node's API, with the bearer token of its kubeconfig."""
    import httpx
    return httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{node.port}", verify=False, timeout=120,
        headers={"Authorization": f"Bearer {kubeconfig_token(node)}"},
        limits=httpx.Limits(max_connections=limits.get("connections", 100),
                            max_keepalive_connections=limits.get("connections", 100)))
