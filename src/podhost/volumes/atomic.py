"""kubelet's AtomicWriter: a payload of files is shown through `..data`, a symlink to a
timestamped directory, and each top-level name is a symlink into `..data`. An update writes a new
directory and swaps `..data` with one rename, so readers see the old or the new set, never a mix.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

DATA = "..data"
Payload = dict[str, tuple[bytes, int]]  # relative path → (content, mode)


def _ts_name() -> str:
    now = time.time()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(now))
    return f"..{stamp}.{secrets.randbelow(10**9):09d}"


def current(target: Path) -> Payload | None:
    """The payload `..data` shows now (None when there is none)."""
    data = target / DATA
    if not data.is_symlink():
        return None
    base = target / os.readlink(data)
    out: Payload = {}
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            full = Path(dirpath) / name
            out[str(full.relative_to(base))] = (full.read_bytes(), full.stat().st_mode & 0o7777)
    return out


def _write_dir(directory: Path, payload: Payload) -> None:
    for rel, (content, mode) in payload.items():
        path = directory / rel
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)


def write(target: Path, payload: Payload) -> bool:
    """Show `payload` in target; False when it is already shown (nothing changed)."""
    if current(target) == payload:
        return False
    old = os.readlink(target / DATA) if (target / DATA).is_symlink() else None
    ts = _ts_name()
    (target / ts).mkdir(mode=0o755)
    os.chmod(target / ts, 0o755)
    _write_dir(target / ts, payload)
    tmp = target / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(ts, tmp)
    os.rename(tmp, target / DATA)
    tops = {rel.split("/", 1)[0] for rel in payload}
    for top in tops:
        if not (target / top).is_symlink():
            os.symlink(f"{DATA}/{top}", target / top)
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old:
        shutil.rmtree(target / old, ignore_errors=True)
    return True
