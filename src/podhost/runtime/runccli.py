"""The runc command line: running runc against podhost's private state root (`runc --root`),
reading the error it reports, and the small integer files (pid files, exit files) that runc and
conmon write. Shared by the container lifecycle (runc.py) and exec sessions (exec.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any


def runc_error_message(output: bytes) -> str:
    """The error text from runc output: JSON log lines (`--log-format json`) or plain text."""
    messages = []
    for raw in output.decode(errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            messages.append(line)
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            messages.append(str(entry.get("msg", "")))
    return messages[-1] if messages else ""


def read_int(path: Path) -> int | None:
    """The integer a small file holds (pid file, exit file); None if unreadable or not a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


async def run_runc(runc: str, root: Path, *args: str) -> tuple[int, bytes, bytes]:
    """Run `runc --root <root> --log-format json <args>`; its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        runc, "--root", str(root), "--log-format", "json", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out, err


async def runc_state(runc: str, root: Path, container_id: str) -> dict[str, Any] | None:
    """`runc state` as a dict, or None when runc does not know the container."""
    rc, out, _err = await run_runc(runc, root, "state", container_id)
    if rc != 0:
        return None
    try:
        info: dict[str, Any] = json.loads(out)
    except ValueError:
        return None
    return info
