"""kubelet's kuberuntime manager: one attempt of a container started (image, config, create,
start, postStart hook, probes) and stopped (preStop hook, stop signal, SIGKILL after the grace
period), and everything of a Pod removed at the end."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import Mapping

from podhost.api import meta
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.images import snapshots
from podhost.node import containers
from podhost.node import logs as logfiles
from podhost.node.container_config import (
    LABEL_UID,
    Prepared,
    container_config,
    node_facts,
    user_files,
)
from podhost.node.events import Recorder, container_field_path
from podhost.node.exits import ExitHandler
from podhost.node.hooks import HandlerRunner
from podhost.node.image_manager import ImageManager
from podhost.node.metrics import DETACHED, NodeMetrics
from podhost.node.paths import NodePaths
from podhost.node.pod_state import ContainerIndex, ContainerRecord
from podhost.node.pod_workers import PodWorker
from podhost.node.prober_manager import ProberManager
from podhost.node.probes import container_probes
from podhost.node.proxier import pod_service_env
from podhost.node.sandboxes import SandboxManager
from podhost.node.volume_manager import VolumeManager
from podhost.runtime.errors import ContainerRuntimeError
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig
from podhost.volumes.emptydir import VolumeSetupError
from podhost.volumes.manager import ImageVolumes

START_RETRY = 1.0  # seconds before a sync after a failed start
MIN_GRACE_AFTER_PRE_STOP = 2.0  # kubelet's minimum for the stop signal after a preStop hook


class RuntimeManager:
    metrics: NodeMetrics = DETACHED

    def __init__(self, runtime: Runtime, paths: NodePaths, store: ObjectStore,
                 recorder: Recorder, index: ContainerIndex, exits: ExitHandler,
                 images: ImageManager, volumes: VolumeManager, sandboxes: SandboxManager,
                 handlers: HandlerRunner, probers: ProberManager, host_ip: str,
                 workers: Mapping[str, PodWorker]) -> None:
        self.runtime, self.paths, self.store, self.recorder = runtime, paths, store, recorder
        self.index, self.exits, self.images = index, exits, images
        self.volumes, self.sandboxes = volumes, sandboxes
        self.handlers, self.probers, self.host_ip = handlers, probers, host_ip
        self.workers = workers
        self.log_max_size, self.log_max_files = logfiles.MAX_SIZE, logfiles.MAX_FILES

    # -- start ---------------------------------------------------------------------------
    async def start_container(self, worker: PodWorker, rec: ContainerRecord) -> None:
        """startContainer: 1 pull the image, 2 configure, 3 create and start, 4 postStart
        hook, 5 probes. A failure leaves rec waiting with kubelet's reason."""
        pod, spec = worker.pod, worker.container_spec(rec.name)
        field_path = container_field_path(rec.name, rec.init, rec.ephemeral)
        if rec.id is not None:
            await self.remove_container(rec.id, keep_exit=True)
        rec.begin_attempt()
        volume_images, failed = await self.images.ensure_volume_images(pod, spec)
        pulled = await self.images.ensure_image(pod, spec, field_path) if not failed.reason \
            else failed  # kubelet fails late, on the containers that mount the image volume
        if pulled.image is None:
            rec.wait(pulled.reason, pulled.message)
            worker.wake_in(pulled.retry_after)
            return
        image = pulled.image
        rec.image_id = image.repo_digests[0] if image.repo_digests else image.id
        cid = secrets.token_hex(32)
        self.metrics.container_started(rec.init, rec.ephemeral)
        try:
            cfg = self._config(worker, rec, spec, image, cid, volume_images)
        except (VolumeSetupError, LookupError, ValueError, OSError) as e:
            await self.remove_container(cid)  # its root filesystem, if it got that far
            return self._failed(worker, rec, "CreateContainerConfigError", str(e), field_path)
        except ContainerRuntimeError as e:  # what CRI-O's CreateContainer refuses
            await self.remove_container(cid)
            return self._failed(worker, rec, "CreateContainerError", str(e), field_path)
        rec.id = cid
        self.index.add(cid, worker.uid, rec)
        self.images.record_in_use(self.index.image_ids())
        try:
            await self.runtime.create(cfg)
            self.recorder.normal(pod, "Created", f"Created container: {rec.name}", field_path)
            await self.runtime.start(cid)
        except ContainerRuntimeError as e:
            await self.remove_container(cid)
            return self._failed(worker, rec, "RunContainerError", str(e), field_path)
        probes = container_probes(spec)
        rec.mark_started(meta.rfc3339(), startup_probe="Startup" in probes,
                         readiness_probe="Readiness" in probes)
        self.recorder.normal(pod, "Started", f"Started container {rec.name}", field_path)
        if not await self._post_start(worker, rec, spec, field_path):
            return
        if probes and rec.running:
            self.probers.start(worker, rec, spec)

    async def _post_start(self, worker: PodWorker, rec: ContainerRecord, spec: Obj,
                          field_path: str) -> bool:
        """The postStart hook; a failure kills the container (False)."""
        hook = (spec.get("lifecycle") or {}).get("postStart")
        if not hook:
            return True
        grace = worker.grace_period()
        error = await self.handlers.run_hook(worker.pod, worker.pod_ip, rec, spec, hook,
                                             grace or 30.0)
        if error is None:
            return True
        self.recorder.warning(worker.pod, "FailedPostStartHook", error, field_path)
        await self.kill_container(worker, rec, grace, "FailedPostStartHook",
                                  run_pre_stop=False)
        return False

    def _failed(self, worker: PodWorker, rec: ContainerRecord, reason: str, message: str,
                field_path: str) -> None:
        rec.fail_to_start(reason, message)
        self.metrics.container_failed(rec.init, rec.ephemeral, reason)
        self.recorder.warning(worker.pod, "Failed", f"Error: {message}", field_path)
        worker.wake_in(START_RETRY)

    def _config(self, worker: PodWorker, rec: ContainerRecord, spec: Obj, image: object,
                cid: str, volume_images: ImageVolumes) -> ContainerConfig:
        """Set up what the attempt needs (root filesystem, volumes, /etc files, log) and
        configure it."""
        pod = worker.pod
        image_config = getattr(image, "config", {}).get("config") or {}
        process = containers.process_spec(
            pod, spec, image_config, extra_env=pod_service_env(self.store, pod),
            node=node_facts(self.host_ip, worker.pod_ip, self.store))
        rootfs = snapshots.prepare_rootfs(self.paths.overlay_dir(cid),
                                          self.images.layer_dirs(image))
        uid, gid = containers.resolve_user(process.user, *user_files(rootfs))
        mounts = self.volumes.volume_mounts(pod, spec, dict(e.split("=", 1)
                                                            for e in process.env), volume_images)
        mounts += self.volumes.file_mounts(pod, worker.pod_ip, spec, cid,
                                           {m.destination for m in mounts})
        log_path = self.paths.log_path(pod, rec.name, rec.attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return container_config(pod, rec, spec, Prepared(
            container_id=cid, rootfs=rootfs, process=process, uid=uid, gid=gid,
            mounts=tuple(mounts), log_path=log_path,
            log_size_max=self.log_max_size * self.log_max_files,
            sandbox_dir=self.paths.sandbox_dir(worker.uid),
            stop_signal=image_config.get("StopSignal") or "SIGTERM",
            target_pid=self._target_pid(worker, spec)))

    def _target_pid(self, worker: PodWorker, spec: Obj) -> int | None:
        """The process of an ephemeral container's target, whose PID namespace it joins."""
        target = spec.get("targetContainerName")
        if not target:
            return None
        rec = worker.records.get(target)
        pid = self.runtime.pid(rec.id) if rec is not None and rec.running and rec.id else None
        if pid is None:
            raise LookupError(f'target container "{target}" is not running')
        return pid

    # -- stop ----------------------------------------------------------------------------
    async def kill_container(self, worker: PodWorker, rec: ContainerRecord, grace: float,
                             reason: str = "", run_pre_stop: bool = True) -> None:
        """preStop hook, then the stop signal, then SIGKILL once the grace period is over;
        the exit is recorded."""
        cid = rec.id
        if cid is None or not rec.running:
            return
        self.probers.stop(worker.uid, rec.name)
        spec = worker.container_spec(rec.name)
        field_path = container_field_path(rec.name, rec.init, rec.ephemeral)
        if not reason:
            self.recorder.normal(worker.pod, "Killing", f"Stopping container {rec.name}",
                                 field_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        hook = (spec.get("lifecycle") or {}).get("preStop")
        if hook and run_pre_stop and grace > 0:
            error = await self.handlers.run_hook(worker.pod, worker.pod_ip, rec, spec, hook,
                                                 grace)
            if error is not None:
                self.recorder.warning(worker.pod, "FailedPreStopHook", error, field_path)
        left = 0.0
        if grace > 0:
            left = max(deadline - loop.time(), MIN_GRACE_AFTER_PRE_STOP)
        signal = "SIGTERM"
        with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
            signal = self.runtime.metadata(cid).get("stop_signal") or signal
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.stop(cid, left, signal)
        if rec.id == cid and rec.exit_code is None:
            self.exits.record(worker, rec)

    async def stop_all(self, worker: PodWorker, first: list[ContainerRecord],
                       sidecars: list[ContainerRecord], grace: float) -> None:
        """`first` at once, then the sidecars one by one, all within the grace period."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if first:
            await asyncio.gather(*(self.kill_container(worker, rec, grace) for rec in first))
        await self.stop_sidecars(worker, sidecars,
                                 max(0.0, deadline - loop.time()) if grace else 0.0)
        for rec in worker.records.values():
            if rec.id and rec.exit_code is None:
                self.exits.record(worker, rec)

    async def stop_sidecars(self, worker: PodWorker, sidecars: list[ContainerRecord],
                            grace: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for rec in sidecars:
            if rec.running and rec.id:
                left = max(0.0, deadline - loop.time()) if grace else 0.0
                await self.kill_container(worker, rec, max(left, min(grace, 2.0)))

    # -- removal -------------------------------------------------------------------------
    async def remove_container(self, cid: str, keep_exit: bool = False) -> None:
        with contextlib.suppress(ContainerRuntimeError, OSError):
            await self.runtime.delete(cid)
        with contextlib.suppress(Exception):
            snapshots.remove_rootfs(self.paths.overlay_dir(cid))
            self.paths.overlay_dir(cid).rmdir()
        if self.index.remove(cid):
            self.images.record_in_use(self.index.image_ids())
        if not keep_exit:
            self.exits.forget(cid)

    def runtime_containers(self) -> dict[str, dict[str, str]]:
        """Every container the runtime has, with its labels."""
        out = {}
        for cid in self.runtime.list():
            with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
                out[cid] = self.runtime.metadata(cid).get("labels") or {}
        return out

    async def clean_up_pod(self, worker: PodWorker) -> None:
        """Everything of the Pod goes: containers, rootfs, volumes, sandbox, directories."""
        for rec in worker.records.values():
            if rec.id:
                await self.remove_container(rec.id)
        for cid, labels in self.runtime_containers().items():
            if labels.get(LABEL_UID) == worker.uid:
                await self.remove_container(cid)
        await self.clean_up_dirs(worker.uid, worker.pod, worker)

    async def clean_up_dirs(self, uid: str, pod: Obj | None,
                            worker: PodWorker | None = None) -> None:
        self.volumes.tear_down(uid)
        self.images.release_volume_images(uid)
        await self.sandboxes.remove(uid, worker)
        shutil.rmtree(self.paths.pod_dir(uid), ignore_errors=True)
        if pod is not None:
            shutil.rmtree(self.paths.log_dir(pod), ignore_errors=True)

    async def clean_up_terminal(self, worker: PodWorker) -> None:
        """A finished Pod keeps its record and logs but releases volumes and the sandbox."""
        self.volumes.tear_down(worker.uid)
        self.images.release_volume_images(worker.uid)
        if worker.sandbox_ready:
            await self.sandboxes.remove(worker.uid, worker)

    def rotate_logs(self) -> None:
        """kubelet's container log manager: rotate live logs over log_max_size (conmon
        reopens them)."""
        for cid, (uid, rec) in self.index.items():
            worker = self.workers.get(uid)
            if rec.id != cid or not rec.running or worker is None:
                continue
            path = self.paths.log_path(worker.pod, rec.name, rec.attempt)
            try:
                if path.stat().st_size < self.log_max_size:
                    continue
                logfiles.rotate(path, meta.now(), self.log_max_files)
            except OSError:
                continue
            with contextlib.suppress(ContainerRuntimeError, OSError):
                self.runtime.reopen_log(cid)
