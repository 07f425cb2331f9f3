"""The ingress proxy process: Debian's HAProxy in master-worker mode (`haproxy -W`).

The node starts the master in a session of its own (a `kill -9` of the node leaves it serving,
as the nftables rules do) and records its pid under the node's root. A new configuration is
checked first (`haproxy -c`, the running one is kept when it fails), then put in place and the
master is sent SIGUSR2: it starts new workers with the new configuration, which take the
listening sockets over from the old ones through the stats socket (`expose-fd listeners`), so
no connection is refused during a reload, and the old workers finish the requests they hold.
Certificates and keys are written 0600 in a 0700 directory and never logged.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from podhost.network import NetworkError
from podhost.network.ingress import ProxyFiles
from podhost.statefiles import write_private

log = logging.getLogger(__name__)

HAPROXY = "/usr/sbin/haproxy"


def _proc_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def self_signed_pem(name: str = "podhost-ingress-default") -> bytes:
    """A certificate and key for names no Secret covers (the proxy needs one to listen)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


class ProxyProcess:
    """One HAProxy master of a node, under `state_dir` (`<root>/ingress`)."""

    def __init__(self, state_dir: Path, binary: str = HAPROXY) -> None:
        self.dir, self.binary = state_dir, binary
        self.config = state_dir / "haproxy.cfg"
        self.pid_file = state_dir / "haproxy.pid"
        self.log_file = state_dir / "haproxy.log"
        self.files = ProxyFiles(state_dir=str(state_dir), cert_dir=str(state_dir / "certs"),
                                default_cert=str(state_dir / "default.pem"),
                                crt_list=str(state_dir / "crt-list"),
                                socket=str(state_dir / "haproxy.sock"))
        self.child: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.starts = 0  # how many times the master was started (tests, doctor)

    def prepare(self) -> None:
        """The directories and the default certificate."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        Path(self.files.cert_dir).mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        if not Path(self.files.default_cert).exists():
            write_private(Path(self.files.default_cert), self_signed_pem())

    # -- the master's pid ---------------------------------------------------------------
    def alive(self) -> bool:
        if self.child is not None:
            return self.child.poll() is None
        return bool(self.pid) and _proc_alive(self.pid)

    def adopt(self) -> bool:
        """Take over the master a previous run of the node left (its pid file names a live
        haproxy reading this node's configuration)."""
        pid = recorded_pid(self.dir)
        if pid and str(self.config) in _cmdline(pid):
            self.pid, self.child = pid, None
            return True
        return False

    # -- configuration ------------------------------------------------------------------
    def write_certs(self, certs: dict[str, bytes]) -> None:
        """The certificate files (certificate + key) named in the model; others removed."""
        cert_dir = Path(self.files.cert_dir)
        for name, pem in certs.items():
            path = cert_dir / name
            if not path.exists() or path.read_bytes() != pem:
                write_private(path, pem)
        for path in cert_dir.iterdir():
            if path.name not in certs:
                path.unlink(missing_ok=True)

    def apply(self, config: str, crt_list: str) -> None:
        """Check and install a configuration, then start or reload the master."""
        new = self.config.with_name("haproxy.cfg.new")
        write_private(Path(self.files.crt_list), crt_list.encode())
        write_private(new, config.encode())
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(new)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise NetworkError(f"haproxy refused the configuration: "
                               f"{(check.stderr or check.stdout).strip()[-500:]}")
        os.replace(new, self.config)
        if self.alive():
            self.reload()
        else:
            self.start()

    def reload(self, timeout: float = 10.0) -> None:
        """SIGUSR2 to the master, and wait until it has forked the new worker: a signal sent
        while the master re-executes itself would be lost, and with it a configuration."""
        before = set(_children(self.pid))
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(_children(self.pid)) - before:
                return
            time.sleep(0.005)
        raise NetworkError(f"haproxy (pid {self.pid}) did not reload: {tail(self.log_file)}")

    def start(self) -> None:
        with open(self.log_file, "ab") as out:
            self.child = subprocess.Popen([self.binary, "-W", "-f", str(self.config)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                          start_new_session=True)
        self.pid = self.child.pid
        self.starts += 1
        write_private(self.pid_file, f"{self.pid}\n".encode())
        time.sleep(0.2)  # a bind failure ends the master at once
        if self.child.poll() is not None:
            self.child = None
            raise NetworkError(f"haproxy exited at start: {tail(self.log_file)}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the master and its workers; nothing of this node is left listening."""
        if self.alive():
            stop_pid(self.pid, timeout)
            if self.child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.child.wait(1)
        self.child, self.pid = None, 0
        self.pid_file.unlink(missing_ok=True)


def tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def recorded_pid(state_dir: Path) -> int:
    try:
        return int((state_dir / "haproxy.pid").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM to the master (it stops its workers), SIGKILL to what is left after `timeout`."""
    workers = _children(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_proc_alive(p) for p in (pid, *workers)):
        time.sleep(0.02)
    for p in (pid, *workers):
        if _proc_alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def stop_leftover(state_dir: Path) -> bool:
    """Stop the proxy of a node that is not running (`podhost down` after a `kill -9`)."""
    proxy = ProxyProcess(state_dir)
    if not proxy.adopt() or not proxy.alive():
        return False
    proxy.stop()
    return True


def listeners(state_dir: Path) -> list[str]:
    """`address:port (http|https)` of the configuration the proxy of `state_dir` runs."""
    try:
        text = (state_dir / "haproxy.cfg").read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "bind":
            out.append(f"{words[1]} ({'https' if 'ssl' in words else 'http'})")
    return out


def running(state_dir: Path) -> int:
    """The pid of the live proxy of `state_dir`, or 0."""
    proxy = ProxyProcess(state_dir)
    return proxy.pid if proxy.adopt() and proxy.alive() else 0
