"""Pure sizing rules: tmpfs size of a Memory emptyDir, huge page sizes, canonical quantities.

As kubelet's `calculateEmptyDirMemorySize`: size = min(node allocatable memory, the Pod's memory
limit when every container declares one, the volume's sizeLimit when > 0).
"""

from __future__ import annotations

from podhost.api import quantity
from podhost.api.podutil import all_containers
from podhost.api.types import Obj

_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as {key: value}; `kB` values are turned into bytes, counts stay counts."""
    info: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            info[key.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return info


def _memory_limit(container: Obj) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return quantity.parse_bytes(str(value)) if value not in (None, "") else None


def pod_memory_limit(pod: Obj) -> int | None:
    """ResourceConfigForPod's memory: max(sum of app limits, largest init limit), only when
    every container declares a memory limit; otherwise None (no Pod-level limit)."""
    spec = pod.get("spec") or {}
    apps = [_memory_limit(c) for c in spec.get("containers") or []]
    inits = [_memory_limit(c) for c in spec.get("initContainers") or []]
    if not apps or any(v is None for v in apps + inits):
        return None
    return max([sum(v for v in apps if v is not None), *(v for v in inits if v is not None)])


def tmpfs_size(node_memory: int, pod_limit: int | None, size_limit: int | None) -> int:
    """min(node memory, pod limit if > 0, sizeLimit if > 0), in bytes."""
    size = node_memory
    for candidate in (pod_limit, size_limit):
        if candidate is not None and 0 < candidate <= size:
            size = candidate
    return size


def hugepage_sizes(pod: Obj) -> list[str]:
    """The `hugepages-<size>` resources the Pod's containers request (sorted, unique)."""
    sizes = set()
    for c in all_containers(pod):
        for name in ((c.get("resources") or {}).get("requests") or {}):
            if name.startswith("hugepages-"):
                sizes.add(name.removeprefix("hugepages-"))
    return sorted(sizes)


def canonical(text: str | int) -> str:
    """Quantity.String() for whole quantities: "41943040" stays decimal, "40960Ki" → "40Mi"."""
    raw = str(text).strip()
    value = quantity.parse_bytes(raw)
    binary = any(raw.endswith(s) for s, _ in _BINARY)
    if value == 0:
        return "0"
    for suffix, shift in _BINARY if binary else ():
        if value % (1 << shift) == 0:
            return f"{value >> shift}{suffix}"
    for suffix, exp in _DECIMAL:
        if value % (10 ** exp) == 0:
            return f"{value // 10 ** exp}{suffix}"
    return str(value)
