"""The runtime's ContainerConfig for one attempt of one container (kubelet's
generateContainerConfig): pure, from what the node has already set up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from podhost.api.types import Obj
from podhost.node import containers, podfiles
from podhost.node.containers import ProcessSpec
from podhost.node.pod_state import ContainerRecord
from podhost.runtime.spec import ALL_CAPABILITIES, DEFAULT_CAPABILITIES, HOST_NAMESPACE
from podhost.runtime.types import ContainerConfig, Mount

LABEL_UID = "io.kubernetes.pod.uid"
LABEL_NAME = "io.kubernetes.pod.name"
LABEL_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_ATTEMPT = "io.kubernetes.container.restartCount"
ANNOTATION_IMAGE_ID = "io.podhost.image-id"


@dataclass(frozen=True)
class Prepared:
    """What the node set up for the attempt before it can be configured."""

    container_id: str
    rootfs: Path
    process: ProcessSpec
    uid: int
    gid: int
    mounts: tuple[Mount, ...]
    log_path: Path
    log_size_max: int
    sandbox_dir: Path
    stop_signal: str
    target_pid: int | None = None  # an ephemeral container's target's process


def supplemental_groups(pod: Obj) -> tuple[int, ...]:
    """kubelet adds fsGroup to the supplemental groups, so the volume files it chowns are
    writable by the container whatever its user."""
    psc = pod["spec"].get("securityContext") or {}
    groups = [*(psc.get("supplementalGroups") or []),
              *([psc["fsGroup"]] if psc.get("fsGroup") is not None else [])]
    return tuple(dict.fromkeys(int(g) for g in groups))




def sandbox_namespaces(pod: Obj, sandbox_dir: Path, target_pid: int | None = None
                       ) -> dict[str, str]:
    """The Pod's namespaces the container joins (PID only with shareProcessNamespace). With
    hostPID the PID namespace is the host's; an ephemeral container with a target joins the
    target's (kubelet's NamespaceMode_TARGET). hostNetwork and hostIPC Pods' sandboxes pin the
    host's own network, UTS and IPC namespaces (node/sandboxes.py), joined like any other."""
    spec = pod["spec"]
    share_pid = bool(spec.get("shareProcessNamespace"))
    out = {kind: str(sandbox_dir / file)
           for kind, file in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"),
                              ("pid", "pid"))
           if kind != "pid" or share_pid}
    if spec.get("hostPID"):
        out["pid"] = HOST_NAMESPACE
    elif target_pid is not None:
        out["pid"] = f"/proc/{target_pid}/ns/pid"
    return out


def labels(pod: Obj, rec: ContainerRecord) -> dict[str, str]:
    m = pod["metadata"]
    return {LABEL_UID: m["uid"], LABEL_NAME: m["name"], LABEL_NAMESPACE: m.get("namespace", ""),
            LABEL_CONTAINER: rec.name, LABEL_ATTEMPT: str(rec.attempt)}


def container_config(pod: Obj, rec: ContainerRecord, spec: Obj, prepared: Prepared
                     ) -> ContainerConfig:
    sc = spec.get("securityContext") or {}
    privileged = bool(sc.get("privileged"))
    limits = containers.resource_limits(spec)
    caps = containers.capabilities(sc, DEFAULT_CAPABILITIES)
    if caps == ("ALL",):
        caps = ALL_CAPABILITIES
    seccomp: Literal["RuntimeDefault", "Unconfined"] = "Unconfined" if privileged else \
        ("Unconfined" if containers.seccomp(pod, spec) == "Unconfined" else "RuntimeDefault")
    p = prepared
    return ContainerConfig(
        id=p.container_id, name=f"{pod['metadata']['name']}_{rec.name}", rootfs=p.rootfs,
        args=p.process.args, env=p.process.env, cwd=p.process.cwd, uid=p.uid, gid=p.gid,
        hostname="" if pod["spec"].get("hostNetwork") else podfiles.hostname(pod),
        namespaces=sandbox_namespaces(pod, p.sandbox_dir, p.target_pid),
        mounts=p.mounts, log_path=p.log_path, log_size_max=p.log_size_max,
        tty=bool(spec.get("tty")), stdin=bool(spec.get("stdin")),
        stdin_once=bool(spec.get("stdinOnce")), privileged=privileged,
        no_new_privileges=not (sc.get("allowPrivilegeEscalation") or privileged),
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        additional_gids=supplemental_groups(pod), capabilities=caps, seccomp=seccomp,
        memory_limit=limits.memory, cpu_quota=limits.cpu_quota, cpu_period=limits.cpu_period,
        cpu_shares=limits.cpu_shares, stop_signal=p.stop_signal, labels=labels(pod, rec),
        annotations={ANNOTATION_IMAGE_ID: rec.image_id})


def node_facts(host_ip: str, pod_ip: str | None, store: object) -> dict[str, object]:
    """What the downward API and env references read of the node (and the store, for
    envFrom, configMapKeyRef and secretKeyRef)."""
    return {"host_ip": host_ip, "pod_ip": pod_ip or "", "cpus": os.cpu_count() or 1,
            "memory": node_memory(), "store": store}


def node_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def user_files(rootfs: Path) -> tuple[str, str]:
    """/etc/passwd and /etc/group of the image, refusing symlinks that could leave the rootfs."""
    etc = rootfs / "etc"
    paths = []
    for name in ("passwd", "group"):
        p = etc / name
        paths.append("/nonexistent" if etc.is_symlink() or p.is_symlink() else str(p))
    return paths[0], paths[1]
