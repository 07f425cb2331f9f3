"""A local Debian `docker-registry` for pull tests: plain HTTP on 127.0.0.1, optional htpasswd
basic auth, test images pushed with skopeo. Used by tests/integration/images and tests/e2e."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_IMAGES

REGISTRY_BIN = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

AUTH = """\
auth:
  htpasswd:
    realm: podhost-test
    path: {htpasswd}
"""


@dataclass
class LocalRegistry:
    port: int
    dir: Path
    process: subprocess.Popen[bytes]
    user: str | None = None
    password: str | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def push(self, archive: str | os.PathLike[str], name: str) -> None:
        cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
        if self.user:
            cmd.append(f"--dest-creds={self.user}:{self.password}")
        cmd += [f"oci-archive:{archive}", f"docker://{self.host}/{name}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ping(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/v2/", timeout=1) as r:
            return r.status == 200
    except urllib.error.HTTPError as e:
        return e.code == 401
    except OSError:
        return False


def start_registry(directory: Path, port: int, user: str | None = None,
                   password: str | None = None) -> LocalRegistry:
    directory.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(data=directory / "data", port=port)
    if user:
        import bcrypt

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()  # type: ignore[union-attr]
        (directory / "htpasswd").write_text(f"{user}:{hashed}\n")
        config += AUTH.format(htpasswd=directory / "htpasswd")
    (directory / "config.yml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(directory / "registry.log", "ab") as log:
        process = subprocess.Popen([REGISTRY_BIN, "serve", str(directory / "config.yml")],
                                   stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, cwd=directory)
    deadline = time.monotonic() + 20
    while not _ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((directory / "registry.log").read_text()[-2000:])
        time.sleep(0.05)
    return LocalRegistry(port, directory, process, user, password)


def push_test_images(registry: LocalRegistry) -> None:
    for name in ("busybox", "nginx"):
        registry.push(TEST_IMAGES / f"{name}.oci.tar", f"library/{name}:latest")


def mirror_conf(mirrors: list[str], insecure: bool = True) -> str:
    """registries.conf mirroring docker.io to the given host[:port] locations, in order."""
    lines = ['unqualified-search-registries = ["docker.io"]', "", "[[registry]]",
             'prefix = "docker.io"', 'location = "docker.io"']
    for m in mirrors:
        lines += ["", "[[registry.mirror]]", f'location = "{m}"',
                  f"insecure = {'true' if insecure else 'false'}"]
    return "\n".join(lines) + "\n"
