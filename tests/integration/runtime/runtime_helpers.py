"""Helpers shared by the runtime integration tests (importable as `runtime_helpers`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
CGROUP_PARENT = "podhost-test"


def integration_marks() -> list[pytest.MarkDecorator]:
    """Marks for every test here. Like the project's other root-only tiers, these fail loudly
    (rather than skip) when runc, conmon or busybox-static is missing; tests/conftest.py skips
    them when not root."""
    return [pytest.mark.integration, pytest.mark.timeout(120)]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live (non-zombie) processes that mention text."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and entry.name != str(os.getpid()):
            found.append(cmdline)
    return found


def cgroup_dirs(container_id: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}/{container_id}")]
