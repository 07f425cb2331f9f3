"""After a restart of the node: containers of Pods that still exist are adopted (same
container, same attempt, exits that happened while the node was down recorded); whatever a
crash left of Pods that are gone is removed."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, MutableMapping
from datetime import datetime, timezone
from pathlib import Path

from podhost.api import meta
from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.node.container_config import (
    ANNOTATION_IMAGE_ID,
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_UID,
)
from podhost.node.exits import ExitHandler
from podhost.node.paths import NodePaths
from podhost.node.pod_state import EXIT_KILLED
from podhost.node.pod_workers import PodWorker
from podhost.node.probes import container_probes
from podhost.node.runtime_manager import RuntimeManager
from podhost.node.sandboxes import SandboxManager
from podhost.runtime.errors import ContainerRuntimeError
from podhost.runtime.runc import Runtime


def _time(ts: float) -> str:
    return meta.rfc3339(datetime.fromtimestamp(ts, timezone.utc))


class Recovery:
    def __init__(self, runtime: Runtime, paths: NodePaths, containers: RuntimeManager,
                 sandboxes: SandboxManager, exits: ExitHandler,
                 workers: MutableMapping[str, PodWorker],
                 new_worker: Callable[[Obj], PodWorker]) -> None:
        self.runtime, self.paths, self.containers = runtime, paths, containers
        self.sandboxes, self.exits = sandboxes, exits
        self.workers, self.new_worker = workers, new_worker

    async def recover(self, pods: list[Obj]) -> None:
        """Adopt the containers of Pods that still exist; remove everything else. The
        workers made for adopted containers are in `workers`, not yet running."""
        by_uid = {p["metadata"]["uid"]: p for p in pods}
        for cid, labels in self.containers.runtime_containers().items():
            uid = labels.get(LABEL_UID)
            if uid is None or uid not in by_uid:
                await self.containers.remove_container(cid)
                continue
            worker = self.workers.get(uid)
            if worker is None:
                worker = self.new_worker(by_uid[uid])
                worker.sandbox_ready = self.sandboxes.exists(uid)
                worker.pod_ip = self.sandboxes.pod_ip(uid, by_uid[uid]) \
                    if worker.sandbox_ready else None
                self.workers[uid] = worker
            await self.adopt(worker, cid, labels)
        await self.remove_strays(set(by_uid))
        for uid in self.workers:  # image volumes still mounted keep their images in use
            self.containers.images.use_volume_images(
                uid, self.containers.volumes.image_volume_ids(uid))
        self.containers.images.record_in_use(self.containers.index.image_ids())
        with contextlib.suppress(NetworkError):
            self.sandboxes.sync_host_ports()
        for worker in self.workers.values():
            worker.restore(by_uid[worker.uid])

    async def remove_strays(self, known: set[str]) -> None:
        """What a crash may leave of Pods that are gone: half-made bundles and root
        filesystems, Pod directories (volumes, sandbox) and log directories."""
        adopted = {cid for cid, _ in self.containers.index.items()}
        for cid in self.runtime.list():
            if cid not in adopted:
                await self.containers.remove_container(cid)
        for entry in _entries(self.paths.root / "overlay"):
            if entry.name not in adopted:
                await self.containers.remove_container(entry.name)
        for entry in _entries(self.paths.root / "pods"):
            if entry.name not in known:
                await self.containers.clean_up_dirs(entry.name, None)
        self.sandboxes.release_unknown(known)
        for entry in _entries(self.paths.root / "logs"):
            if entry.name.rsplit("_", 1)[-1] not in known:
                shutil.rmtree(entry, ignore_errors=True)

    async def adopt(self, worker: PodWorker, cid: str, labels: dict[str, str]) -> None:
        rec = worker.records.get(labels.get(LABEL_CONTAINER, ""))
        attempt = int(labels.get(LABEL_ATTEMPT, "0"))
        if rec is None or (rec.id is not None and rec.attempt >= attempt):
            await self.containers.remove_container(cid)
            return
        try:
            state = await self.runtime.state(cid)
        except ContainerRuntimeError:  # its bundle went meanwhile
            await self.containers.remove_container(cid)
            return
        if state.started_at is None and state.exit_code is None and (
                state.status == "unknown" or
                (state.status == "created" and not self.runtime.conmon_alive(cid))):
            # a create the killed node never finished (runc never made it, or conmon is gone
            # and nobody would log it or record its exit): it never ran, so it goes, and the
            # worker creates the same attempt again (no restart counted, no exit recorded)
            await self.containers.remove_container(cid)
            return
        if state.status == "created" and state.exit_code is None:
            try:
                await self.runtime.start(cid)
            except ContainerRuntimeError:
                await self.containers.remove_container(cid)
                return
        if rec.id is not None:
            await self.containers.remove_container(rec.id)
        image_id = (self.runtime.metadata(cid).get("annotations") or {}).get(
            ANNOTATION_IMAGE_ID, "")
        rec.adopt(cid, attempt, _time(state.started_at) if state.started_at else meta.rfc3339(),
                  image_id)
        self.containers.index.add(cid, worker.uid, rec)
        self.containers.images.record_in_use(self.containers.index.image_ids())
        if state.status not in ("running", "created") or state.exit_code is not None:
            code = state.exit_code if state.exit_code is not None else EXIT_KILLED
            self.exits.record(worker, rec, code, oom=state.oom_killed, message="",
                              finished_at=_time(state.finished_at) if state.finished_at
                              else None)
            return
        spec = worker.container_spec(rec.name)
        if container_probes(spec):
            # as kubelet after a restart: not ready until its readiness probe passes again
            # (the startup probe, if any, passed before: it does not run again)
            rec.ready = "Readiness" not in container_probes(spec)
            self.containers.probers.start(worker, rec, spec)


def _entries(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []
