#!/usr/bin/env python3
"""Run the end-to-end files in parallel, each group in a network namespace of its own
(hack/in-netns: its own bridge, nft tables and loopback), so that nodes never collide.

    hack/run-e2e.py [--jobs N] [FILE ...]      (default: every tests/e2e/test_*.py)

Files are dealt to the groups longest first, by the durations of the last run
(build/e2e-durations.json) or else by size; each group runs one pytest process with its own
HOME (kubectl's cache, kubeconfig merges). The output of each group is printed when it ends;
the exit status is the worst of the groups'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DURATIONS = REPO / "build" / "e2e-durations.json"


def deal(files: list[Path], jobs: int, known: dict[str, float]) -> list[list[Path]]:
    """Longest processing time first: each file to the group with the least work so far."""
    def cost(f: Path) -> float:
        return known.get(f.name, f.stat().st_size / 200)  # ~200 bytes of test a second
    groups: list[list[Path]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for f in sorted(files, key=cost, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(f)
        loads[i] += cost(f)
    return [g for g in groups if g]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("E2E_JOBS", "2")))
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted((REPO / "tests" / "e2e").glob("test_*.py"))
    known = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    groups = deal(files, max(1, args.jobs), known)
    pytest = str(REPO / ".venv" / "bin" / "pytest")
    runs = []
    for i, group in enumerate(groups):
        home = Path(tempfile.mkdtemp(prefix=f"podhost-e2e-{i}-"))
        log = home / "pytest.log"
        env = dict(os.environ, HOME=str(home))
        cmd = [str(REPO / "hack" / "in-netns"), f"podhost-e2e-{os.getpid()}-{i}", pytest,
               "-q", "-m", "e2e", "-p", "no:cacheprovider", *map(str, group)]
        out = open(log, "wb")  # closed when the run ends
        runs.append((group, log, out, time.monotonic(),
                     subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out,
                                      stderr=subprocess.STDOUT)))
        print(f"group {i}: {' '.join(f.name for f in group)}", flush=True)
    worst = 0
    for group, log, out, started, proc in runs:
        code = proc.wait()
        out.close()
        took = time.monotonic() - started
        print(f"\n==== {' '.join(f.name for f in group)}: exit {code} in {took:.0f} s ====")
        sys.stdout.write(log.read_text(errors="replace"))
        worst = max(worst, code)
        for f in group:  # a group's time, shared by size, for the next dealing
            known[f.name] = took * f.stat().st_size / sum(g.stat().st_size for g in group)
    DURATIONS.parent.mkdir(parents=True, exist_ok=True)
    DURATIONS.write_text(json.dumps(known, indent=1, sort_keys=True))
    return worst


if __name__ == "__main__":
    sys.exit(main())
