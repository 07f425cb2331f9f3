"""CLI start-up: median wall times of `podhost --help`, `podhost get pods` (and `kubectl get pods`
for reference) against a running node, and the time from exec to the client's first request.

The first-request time uses `PODHOST_TRACE_START=1`: the client prints `first-request <ns>` of
CLOCK_MONOTONIC (system-wide, so comparable with the parent's clock) just before it sends.

Usage: .venv/bin/python bench/cli_startup.py [-n 15] [--write]
Uses $KUBECONFIG's node if it answers; otherwise starts a temporary node (`podhost up`).
`--write` replaces the `## CLI start-up` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PODHOST = str(REPO / ".venv" / "bin" / "podhost")
DOCS = REPO / "docs" / "benchmarks.md"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int | None]:
    """Wall seconds of one run, and the first-request offset in ns if the client traced it."""
    start = time.monotonic_ns()
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = (time.monotonic_ns() - start) / 1e9
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr}")
    m = re.search(r"first-request (\d+)", out.stderr)
    return wall, (int(m.group(1)) - start) if m else None


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def measure(argv: list[str], env: dict[str, str], n: int) -> tuple[float, float | None]:
    timed(argv, env)  # warm the page cache
    runs = [timed(argv, env) for _ in range(n)]
    firsts = [f for _, f in runs if f is not None]
    return median_ms([w for w, _ in runs]), (statistics.median(firsts) / 1e6 if firsts else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_env() -> tuple[dict[str, str], Path | None]:
    env = dict(os.environ, PODHOST_NO_AUTOSTART="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: with cached bytecode
    probe = subprocess.run([PODHOST, "get", "pods"], env=env, capture_output=True)
    if probe.returncode == 0:
        return env, None
    root = Path(tempfile.mkdtemp(prefix="podhost-bench-")) / "root"
    subprocess.run([PODHOST, "up", "--root", str(root), "--port", str(free_port()),
                    "--no-kubeconfig-update"], check=True, capture_output=True)
    env.update(KUBECONFIG=str(root / "kubeconfig"), PODHOST_ROOT=str(root))
    return env, root


def section(rows: list[tuple[str, float, float | None]], n: int) -> str:
    lines = ["## CLI start-up (`bench/cli_startup.py`)", "",
             f"Median of {n} runs each, wall time from exec to exit, on this machine; "
             "\"first request\" is from exec to the client's first HTTP request "
             "(`PODHOST_TRACE_START=1`). Budget: first request < 150 ms.", "",
             "| command | median wall | median to first request |", "|---|---|---|"]
    for name, wall, first in rows:
        lines.append(f"| `{name}` | {wall:.0f} ms | "
                     + (f"{first:.0f} ms |" if first is not None else "- |"))
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    doc = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## CLI start-up.*?(?=^## |\Z)", re.S | re.M)
    doc = pattern.sub(text + "\n", doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + text
    DOCS.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    env, root = node_env()
    traced = dict(env, PODHOST_TRACE_START="1")
    try:
        rows = [("podhost --help", *measure([PODHOST, "--help"], env, args.n)),
                ("podhost get pods", *measure([PODHOST, "get", "pods"], traced, args.n))]
        if shutil.which("kubectl"):
            rows.append(("kubectl get pods (reference)",
                         *measure(["kubectl", "get", "pods"], env, args.n)))
    finally:
        if root is not None:
            subprocess.run([PODHOST, "down", "--root", str(root)], capture_output=True)
    text = section(rows, args.n)
    sys.stdout.write(text)
    if args.write:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
