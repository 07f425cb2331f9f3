"""A real podhost node for end-to-end tests: `podhost serve` in a private root and port,
the test images loaded, and real `kubectl` pointed at it through a kubeconfig."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from podhost.network import haproxy
from tests.conftest import REPO, TEST_IMAGES
from tests.images_registry import LocalRegistry, mirror_conf, push_test_images, start_registry

PODHOST = str(REPO / ".venv" / "bin" / "podhost")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PODHOST_ROOT"] = str(self.root)
        return env

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], env=self.env(), input=input,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def podhost(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PODHOST, *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=True)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        self.kubectl("wait", "--for=condition=Ready", f"pod/{name}", f"--timeout={timeout}s",
                     timeout=timeout + 10)


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"podhost serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx,
                                        timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"podhost serve did not become ready:\n{log.read_text()}")


def start_node(root: Path, extra_args: Sequence[str] = ()) -> Node:
    """`podhost serve` on `root`; its ingress proxy on free ports unless the test names them
    (nodes of one test group share a network namespace, and so ports 80 and 443)."""
    if "--ingress-http-port" not in extra_args:
        extra_args = [*extra_args, "--ingress-http-port", str(free_port()),
                      "--ingress-https-port", str(free_port())]
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root.parent / f"{root.name}-serve.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [PODHOST, "serve", "--root", str(root), "--port", str(port),
             "--no-kubeconfig-update", *extra_args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_healthy(port, process, log)
    return Node(root, port, process, log)


def stop_node(node: Node) -> None:
    if node.process.poll() is None:
        node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
    # a node killed (here or by its test) leaves its ingress proxy serving, as designed
    haproxy.stop_leftover(node.root / "ingress")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A local docker-registry holding library/busybox and library/nginx (plain HTTP)."""
    for name in ("busybox", "nginx"):
        assert (TEST_IMAGES / f"{name}.oci.tar").exists(), "run `make images` first"
    reg = start_registry(tmp_path_factory.mktemp("registry"), free_port())
    try:
        push_test_images(reg)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def registries_conf(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """registries.conf mirroring docker.io to the local registry: `image: nginx` runs offline
    even with imagePullPolicy Always (the default for :latest)."""
    path = tmp_path_factory.mktemp("conf") / "registries.conf"
    path.write_text(mirror_conf([registry.host]))
    return path


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("podhost") / "root"
    n = start_node(root, ["--registries-conf", str(registries_conf)])
    for name in ("busybox", "nginx"):
        n.podhost("images", "load", str(TEST_IMAGES / f"{name}.oci.tar"))
    try:
        yield n
    finally:
        subprocess.run(["kubectl", "delete", "pods", "--all", "--wait=true", "--timeout=60s"],
                       env=n.env(), capture_output=True, timeout=90)
        stop_node(n)
