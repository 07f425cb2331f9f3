"""The built-in local provisioner's storage: one directory per claim, named as
local-path-provisioner names them (`pvc-<uid>_<namespace>_<name>`), with a hard capacity.

The mechanism is a btrfs pool: a sparse image `<root>/storage/pool.img` (as large as what the
disk holding it has free when it is made; only what is written takes space), loop-mounted on
`<root>/storage/local-path`, with quotas enabled. Each claim is a subvolume whose qgroup limit is
the requested size: a process writing past it gets `EDQUOT` ("Disk quota exceeded"), and
raising the limit takes effect at once on the mounted volume (online expansion). The mount
outlives `podhost serve` (a kill -9 included); a later start finds it mounted, or mounts the
image again (after a reboot).

Where btrfs cannot be used (no `mkfs.btrfs`, or a kernel without btrfs or loop devices), the
pool is a plain directory: volumes work and persist, but their size is not enforced (as with
local-path-provisioner). `mode` says which one is in use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podhost.host import mount as mounts

log = logging.getLogger(__name__)

BTRFS, DIRECTORY = "btrfs", "directory"
MIN_POOL = 1 << 30  # the image is sparse: its size is only the most it can hold


class StorageError(Exception):
    """Provisioning, expansion or deletion failed (the message says why)."""


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StorageError(f"{argv[0]}: {e}") from None
    if done.returncode != 0:
        raise StorageError(f"{' '.join(argv[:3])}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _kernel_has_btrfs() -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            if any(line.split()[-1] == "btrfs" for line in f if line.strip()):
                return True
    except OSError:
        return False
    return subprocess.run(["modprobe", "btrfs"], capture_output=True).returncode == 0


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def promised(qgroups: str) -> int:
    """Sum over the subvolumes' qgroups (`btrfs qgroup show -r --raw`) of what each may still
    write: its limit less what it holds (pure)."""
    total = 0
    for line in qgroups.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0].startswith("0/") and fields[1].isdigit() and \
                fields[3].isdigit():
            total += max(0, int(fields[3]) - int(fields[1]))
    return total


def gib(n: int) -> str:
    return f"{n / (1 << 30):.1f}Gi"


@dataclass(frozen=True)
class Room:
    free: int  # bytes the pool can still take
    promised: int  # of which other claims may still write
    where: Path

    def refuse(self, request: str, size: int) -> str:
        """Why a claim of `size` bytes cannot be provisioned ("" when it can)."""
        left = self.free - self.promised
        if size <= left:
            return ""
        return (f"not enough free space on the node: the claim asks for {request}, the pool "
                f"can hold {gib(max(left, 0))} more ({gib(self.free)} free on the disk of "
                f"{self.where}, {gib(self.promised)} of it promised to other claims)")


def volume_dir_name(uid: str, namespace: str, name: str) -> str:
    return f"pvc-{uid}_{namespace}_{name}"


class LocalPool:
    def __init__(self, root: Path) -> None:
        self.base = root.resolve() / "storage"
        self.image = self.base / "pool.img"
        self.path = self.base / "local-path"
        self.mode = ""

    def ensure(self) -> str:
        """Make the pool ready (idempotent); returns the mode in use."""
        if self.mode:
            return self.mode
        self.base.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(exist_ok=True, mode=0o711)
        if mounts.is_mount_point(self.path):
            self.mode = BTRFS
        elif shutil.which("mkfs.btrfs") and shutil.which("btrfs") and _kernel_has_btrfs():
            try:
                self._mount_pool()
                self.mode = BTRFS
            except (StorageError, OSError) as e:
                log.warning("no btrfs pool for volumes (%s): claims are plain directories "
                            "without a size limit", e)
                self.mode = DIRECTORY
        else:
            log.warning("btrfs-progs or btrfs missing: claims are plain directories without a "
                        "size limit")
            self.mode = DIRECTORY
        return self.mode

    def _mount_pool(self) -> None:
        if any(self.path.iterdir()):
            raise StorageError(f"{self.path} holds volumes of a directory pool")
        if not self.image.exists():  # as large as what the disk has free, not the disk
            with open(self.image, "wb") as f:
                f.truncate(max(free_bytes(self.base), MIN_POOL))
            try:
                _run("mkfs.btrfs", "-q", "-f", str(self.image))
            except StorageError:
                self.image.unlink()
                raise
        _run("mount", "-o", "loop", str(self.image), str(self.path))
        _run("btrfs", "quota", "enable", str(self.path))

    def release(self) -> None:
        """Unmount the pool (its loop device goes with it); the image keeps the volumes."""
        if self.image.exists() and mounts.is_mount_point(self.path):
            with contextlib.suppress(OSError):
                mounts.unmount(self.path)
        self.mode = ""

    def volume_path(self, dir_name: str) -> Path:
        return self.path / dir_name

    def create(self, dir_name: str, size: int) -> Path:
        """The claim's directory (mode 0777), limited to `size` bytes (idempotent)."""
        target = self.volume_path(dir_name)
        if self.ensure() == BTRFS:
            if not target.exists():
                _run("btrfs", "subvolume", "create", str(target))
            self.resize(dir_name, size)
        else:
            target.mkdir(exist_ok=True)
        os.chmod(target, 0o777)
        return target

    def resize(self, dir_name: str, size: int) -> None:
        """Set the limit to `size` bytes: takes effect at once, while mounted."""
        if self.ensure() == BTRFS:
            _run("btrfs", "qgroup", "limit", str(size), str(self.volume_path(dir_name)))

    def delete(self, dir_name: str) -> None:
        """Remove the volume and its data (gone already is fine)."""
        target = self.volume_path(dir_name)
        if not target.exists():
            return
        if self.ensure() == BTRFS and target.stat().st_ino == 256:  # a subvolume's root
            qgroup = _run("btrfs", "inspect-internal", "rootid", str(target)).strip()
            _run("btrfs", "subvolume", "delete", "--commit-after", str(target))
            with contextlib.suppress(StorageError):
                _run("btrfs", "qgroup", "destroy", f"0/{qgroup}", str(self.path))
        else:
            shutil.rmtree(target)

    def room(self) -> Room:
        """What a new claim can have: the pool's free space, bounded by the disk's (the image
        is sparse: it takes disk space as it fills), less what other claims may still write
        (their limits less their use)."""
        mode = self.ensure()
        free = free_bytes(self.base)
        if mode != BTRFS:
            return Room(free, 0, self.base)
        free = min(free, free_bytes(self.path))
        out = _run("btrfs", "qgroup", "show", "-r", "--raw", str(self.path))
        return Room(free, promised(out), self.base)

    def usage(self, dir_name: str) -> tuple[int, int] | None:
        """(used bytes, limit bytes) of a volume in a btrfs pool, None otherwise."""
        if self.ensure() != BTRFS:
            return None
        try:
            out = _run("btrfs", "qgroup", "show", "-rf", "--raw", str(self.volume_path(dir_name)))
        except StorageError:
            return None
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[0].startswith("0/") and fields[1].isdigit():
                return int(fields[1]), int(fields[3]) if fields[3].isdigit() else 0
        return None
