"""One node per root: `podhost serve` holds an exclusive flock on <root>/podhost.lock for its
whole life, taken before it touches the network, the DNS or the store, so a second `serve` on
the same root fails at once (the lock goes with the process, also on kill -9)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "podhost.lock"


class AlreadyRunning(OSError):
    def __init__(self, root: Path, pid: str) -> None:
        super().__init__(f"a podhost node is already running on {root} (pid {pid or '?'}): "
                         "stop it with `podhost down`, or use another --root")


def acquire(root: Path) -> int:
    """Lock `root` for this process; returns the descriptor to keep open (not inherited by
    children: Python opens files close-on-exec). Raises AlreadyRunning with the holder's
    pid."""
    root.mkdir(parents=True, exist_ok=True, mode=0o711)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise AlreadyRunning(root, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
