#!/usr/bin/env python3
"""Pull the nginx test image from a local docker-registry with podhost and with `podman pull`,
side by side, 5 runs each (a fresh store per run for both: podhost --root, podman
--root/--runroot, the image removed after each run). Prints the medians and the ratio
podhost/podman (target: <= 1.0).

    .venv/bin/python bench/pull.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.images_registry import start_registry  # noqa: E402

PODHOST = str(REPO / ".venv" / "bin" / "podhost")
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024","nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_podman() -> None:
    if shutil.which("podman") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "podman"],
                       check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    conf = Path("/etc/containers/containers.conf")
    if not conf.exists() or "cgroupfs" not in conf.read_text():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ensure_podman()
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    registry = start_registry(work / "registry", free_port())
    try:
        registry.push(REPO / "build" / "test-images" / "nginx.oci.tar", "library/nginx:latest")
        ref = f"{registry.host}/library/nginx:latest"
        conf = work / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        ours, theirs = [], []
        for i in range(args.runs):
            root = work / f"root{i}"
            ours.append(timed([PODHOST, "images", "pull", "--root", str(root),
                               "--registries-conf", str(conf), "-q", ref], env))
            shutil.rmtree(root, ignore_errors=True)
            # a private podman store per run: the shared one may hold the same layers already
            podman = ["podman", "--root", str(work / f"p{i}"), "--runroot", str(work / f"r{i}")]
            theirs.append(timed([*podman, "pull", "-q", "--tls-verify=false", ref]))
            subprocess.run([*podman, "rmi", "-f", ref], capture_output=True)
            shutil.rmtree(work / f"p{i}", ignore_errors=True)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"podhost images pull: median {a:.2f}s  runs {' '.join(f'{x:.2f}' for x in ours)}")
        print(f"podman pull:         median {b:.2f}s  runs {' '.join(f'{x:.2f}' for x in theirs)}")
        print(f"ratio podhost/podman: {a / b:.2f}")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
