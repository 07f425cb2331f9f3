"""Where the node keeps each Pod's and container's files under its root (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from podhost.api.types import Obj


@dataclass(frozen=True)
class NodePaths:
    root: Path

    def pod_dir(self, uid: str) -> Path:
        """<root>/pods/<uid>: volumes, sandbox namespaces, /etc files, termination logs."""
        return self.root / "pods" / uid

    def sandbox_dir(self, uid: str) -> Path:
        return self.pod_dir(uid) / "ns"

    def netns(self, uid: str) -> Path:
        return self.sandbox_dir(uid) / "net"

    def overlay_dir(self, container_id: str) -> Path:
        return self.root / "overlay" / container_id

    def log_dir(self, pod: Obj) -> Path:
        """kubelet's /var/log/pods/<namespace>_<name>_<uid>."""
        m = pod["metadata"]
        return self.root / "logs" / f"{m.get('namespace')}_{m['name']}_{m['uid']}"

    def log_path(self, pod: Obj, container: str, attempt: int) -> Path:
        return self.log_dir(pod) / container / f"{attempt}.log"

    def termination_log(self, uid: str, container: str, container_id: str) -> Path:
        return self.pod_dir(uid) / "containers" / container / container_id[:8]
