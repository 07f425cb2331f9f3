"""kubelet's volume manager: a Pod's volumes and /etc files set up before its containers, the
binds each container gets, refreshed projections, and everything torn down at the end."""

from __future__ import annotations

import os
from pathlib import Path

from podhost.api.serviceaccount import TokenProvider
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.host.mount import propagation_of
from podhost.node import podfiles
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.runtime.errors import ContainerRuntimeError
from podhost.runtime.types import Mount
from podhost.volumes import emptydir
from podhost.volumes import manager as volumes


def ensure_propagation(host_path: str, propagation: str) -> None:
    """CRI-O's ensureShared / ensureSharedOrSlave: a Bidirectional mount needs a shared source,
    HostToContainer a shared or slave one, or nothing would propagate."""
    if propagation == "private":
        return
    point, tags = propagation_of(host_path)
    if propagation == "rshared" and "shared" not in tags:
        raise ContainerRuntimeError(f'path "{host_path}" is mounted on "{point}" but it is not '
                                    "a shared mount")
    if propagation == "rslave" and not tags & {"shared", "master"}:
        raise ContainerRuntimeError(f'path "{host_path}" is mounted on "{point}" but it is not '
                                    "a shared or slave mount")


class VolumeManager:
    metrics: NodeMetrics = DETACHED

    def __init__(self, paths: NodePaths, store: ObjectStore, cluster_dns: str = "") -> None:
        self.paths, self.store = paths, store
        self.cluster_dns = cluster_dns  # "" without cluster DNS: ClusterFirst is the host's
        self.tokens: TokenProvider | None = None  # projected ServiceAccount tokens (serve.py)

    def make_pod_dirs(self, uid: str) -> Path:
        pod_dir = self.paths.pod_dir(uid)
        emptydir.make_pod_dirs(pod_dir)
        return pod_dir

    def write_pod_files(self, pod: Obj, pod_ip: str | None) -> dict[str, Path]:
        """/etc/hosts, /etc/hostname, /etc/resolv.conf of the Pod (container path -> file)."""
        return podfiles.write_pod_files(self.paths.pod_dir(pod["metadata"]["uid"]), pod, pod_ip,
                                        self.cluster_dns)

    def volume_mounts(self, pod: Obj, container: Obj, env: dict[str, str],
                      images: volumes.ImageVolumes | None = None) -> list[Mount]:
        """Set up (idempotently) the volumes this container mounts; binds for the runtime.
        `images`: the pulled images of the Pod's image volumes."""
        mounts = []
        for vm in volumes.container_mounts(self.paths.pod_dir(pod["metadata"]["uid"]), pod,
                                           container, env, self.store, images,
                                           self.tokens, self._observe):
            ensure_propagation(vm.host_path, vm.propagation)
            options = ["rbind", "rprivate" if vm.propagation == "private" else vm.propagation]
            if vm.read_only:
                options.append("ro")
            options += vm.options
            mounts.append(Mount(vm.container_path, vm.host_path, "bind", tuple(options)))
        return mounts

    def _observe(self, volume: Obj, seconds: float, ok: bool) -> None:
        self.metrics.ops.volume_operation(volume, "volume_mount", seconds, ok)

    def file_mounts(self, pod: Obj, pod_ip: str | None, container: Obj, container_id: str,
                    taken: set[str]) -> list[Mount]:
        """The Pod's /etc files and the container's termination log, where no volume is."""
        mounts = [Mount(dest, str(src), "bind", ("rbind", "rprivate"))
                  for dest, src in self.write_pod_files(pod, pod_ip).items() if dest not in taken]
        term = self.paths.termination_log(pod["metadata"]["uid"], container["name"],
                                          container_id)
        term.parent.mkdir(parents=True, exist_ok=True)
        term.touch(mode=0o666)
        os.chmod(term, 0o666)
        path = container.get("terminationMessagePath") or "/dev/termination-log"
        if path not in taken:
            mounts.append(Mount(path, str(term), "bind", ("rbind", "rprivate")))
        return mounts

    def refresh(self, pod: Obj) -> None:
        """Bring configMap, secret and downwardAPI volumes up to date."""
        volumes.refresh(self.paths.pod_dir(pod["metadata"]["uid"]), pod, self.store,
                        self.tokens)

    def image_volume_ids(self, uid: str) -> set[str]:
        """The images the Pod's mounted image volumes show (for the in-use list)."""
        return volumes.image_volume_ids(self.paths.pod_dir(uid))

    def tear_down(self, uid: str) -> None:
        volumes.tear_down_pod(self.paths.pod_dir(uid))
