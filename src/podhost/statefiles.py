"""Which files of the node's state hold objects, keys or tokens, and their modes: readable by
root only, in directories others cannot list. `podhost serve` fixes loose modes at start-up
(with a warning) and `podhost doctor` reports them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# relative to the root: the store (every object, Secrets included), the kubeconfig, the PKI
PRIVATE_FILES = ("podhost.db", "podhost.db-wal", "podhost.db-shm", "kubeconfig",
                 "pki/ca.key", "pki/apiserver.key", "pki/admin.key", "pki/token", "pki/sa.key",
                 "pki/encryption-keys")
# 0700: keys (the ingress proxy's TLS keys too); container bundles (their config.json holds env
# values, Secrets' included), container root filesystems (what containers write) and container
# logs
PRIVATE_DIRS = ("pki", "runtime", "overlay", "logs", "ingress")
ROOT_MODE = 0o711  # others may pass through to what Pods mount, never list


def loose(root: Path) -> list[tuple[Path, int, int]]:
    """(path, mode now, mode wanted) of every state file or directory that is too open."""
    out = []
    for rel, mask in ([(f, 0o077) for f in PRIVATE_FILES] + [(d, 0o077) for d in PRIVATE_DIRS]
                      + [("", 0o066)]):
        path = root / rel if rel else root
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & mask:
            out.append((path, mode, mode & ~mask & 0o7777 if rel else ROOT_MODE))
    return out


def fix(root: Path) -> list[str]:
    """Make the private directories (0700) and tighten every loose mode; returns what was
    changed, as log lines (no contents)."""
    for d in PRIVATE_DIRS:
        (root / d).mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = []
    for path, mode, wanted in loose(root):
        os.chmod(path, wanted)
        changed.append(f"{path}: mode {mode:04o} → {wanted:04o}")
    return changed


def create_private(path: Path) -> None:
    """Make sure `path` exists as an empty file of mode 0600 (before SQLite opens it, so the
    -wal and -shm files it makes take the same mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` readable by root only, atomically (a reader sees the old or new content)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
