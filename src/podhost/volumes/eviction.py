"""emptyDir `sizeLimit` enforced by eviction, as kubelet's eviction manager does it.

Usage is measured like kubelet's DiskUsage (and `du`): allocated blocks (st_blocks * 512), hard
links counted once, not crossing into other devices. The first emptyDir in spec order whose usage
is strictly greater than its sizeLimit evicts the Pod with kubelet's message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from podhost.api import quantity
from podhost.api.types import Obj
from podhost.volumes import emptydir, sizing

REASON = "Evicted"
MESSAGE = 'Usage of EmptyDir volume "{name}" exceeds the limit "{limit}". '


def usage_and_inodes(path: Path) -> tuple[int, int]:
    """(allocated bytes, inodes) under path, the root included, one device, hard links counted
    once (`du`)."""
    top = os.lstat(path)
    seen: set[tuple[int, int]] = set()
    total, inodes, stack = top.st_blocks * 512, 1, [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_dev != top.st_dev:
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total, inodes = total + st.st_blocks * 512, inodes + 1
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
    return total, inodes


def disk_usage(path: Path) -> int:
    """Allocated bytes under path (the root included), one device, hard links once."""
    return usage_and_inodes(path)[0]


def _limit(source: Obj) -> int | None:
    size = source.get("sizeLimit")
    return quantity.parse_bytes(str(size)) if size not in (None, "") else None


def empty_dirs(pod: Obj) -> list[tuple[str, Obj]]:
    return [(v["name"], v["emptyDir"]) for v in (pod.get("spec") or {}).get("volumes") or []
            if v.get("emptyDir") is not None]


def usage(pod_dir: Path, pod: Obj) -> dict[str, tuple[int, int | None]]:
    """{volume name: (used bytes, sizeLimit bytes or None)} for the Pod's set-up emptyDirs."""
    out: dict[str, tuple[int, int | None]] = {}
    for name, source in empty_dirs(pod):
        path = emptydir.volume_path(pod_dir, name)
        if path.is_dir():
            out[name] = (disk_usage(path), _limit(source))
    return out


def over_limit(pod: Obj, used: dict[str, tuple[int, int | None]]) -> str | None:
    """emptyDirLimitEviction (pure): the message for the first volume with used > limit > 0."""
    for name, source in empty_dirs(pod):
        limit = _limit(source)
        if name in used and limit and used[name][0] > limit:
            return MESSAGE.format(name=name, limit=sizing.canonical(str(source["sizeLimit"])))
    return None


def check_pod(pod_dir: Path, pod: Obj) -> str | None:
    """The eviction message when an emptyDir of the Pod exceeds its sizeLimit, else None."""
    if not any(_limit(s) for _n, s in empty_dirs(pod)):
        return None
    return over_limit(pod, usage(pod_dir, pod))


def _labels(pod: Obj, volume: str) -> str:
    m = pod.get("metadata") or {}
    values = (("namespace", m.get("namespace", "")), ("pod", m.get("name", "")),
              ("uid", m.get("uid", "")), ("volume", volume))
    return ",".join(f'{k}="{v}"' for k, v in values)


def metrics_text(pods: Iterable[tuple[Path, Obj]]) -> str:
    """Prometheus text exposition of each emptyDir's usage and limit, for `/metrics`.

    `pods` are (pod directory, Pod) pairs, e.g. `(kubelet.pod_dir(w.uid), w.pod)` per worker.
    """
    used_lines, limit_lines = [], []
    for pod_dir, pod in pods:
        for name, (used, limit) in usage(pod_dir, pod).items():
            used_lines.append(f"podhost_emptydir_used_bytes{{{_labels(pod, name)}}} {used}")
            if limit:
                limit_lines.append(f"podhost_emptydir_limit_bytes{{{_labels(pod, name)}}} {limit}")
    return "".join([
        "# HELP podhost_emptydir_used_bytes Bytes allocated by an emptyDir volume (as du).\n",
        "# TYPE podhost_emptydir_used_bytes gauge\n", *(ln + "\n" for ln in used_lines),
        "# HELP podhost_emptydir_limit_bytes The sizeLimit of an emptyDir volume.\n",
        "# TYPE podhost_emptydir_limit_bytes gauge\n", *(ln + "\n" for ln in limit_lines)])


def keep_terminal(old: Obj, new: Obj) -> Obj:
    """The status manager's rule: an evicted Pod stays Failed/Evicted with its message, whatever
    the containers' states compute to afterwards."""
    if old.get("phase") == "Failed" and old.get("reason") == REASON:
        return {**new, "phase": "Failed", "reason": REASON, "message": old.get("message", "")}
    return new
