"""The node's sync loop: watches Pods in the store, runs one PodWorker per Pod UID, polls the
runtime for container exits, and serves exec and logs for the API server (NodeBackend)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, AsyncIterator

from podhost.api import errors, meta
from podhost.apiserver.backend import LogOptions
from podhost.images import snapshots
from podhost.images.errors import ImageError
from podhost.images.store import ImageStore
from podhost.node import containers, podfiles
from podhost.node import logs as logfiles
from podhost.node.backoff import BackOff
from podhost.node.events import Recorder, container_field_path
from podhost.node.execs import ExecProcess
from podhost.node.status import ContainerRecord
from podhost.node.worker import PodWorker
from podhost.runtime import sandbox
from podhost.runtime.errors import ContainerRuntimeError, ExecStartError
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig, Mount
from podhost.store.sqlite import Store
from podhost.volumes import emptydir
from podhost.volumes import manager as volumes
from podhost.volumes.emptydir import VolumeSetupError

log = logging.getLogger(__name__)
Obj = dict[str, Any]

EXIT_POLL = 0.1
LABEL_UID = "io.kubernetes.pod.uid"
LABEL_NAME = "io.kubernetes.pod.name"
LABEL_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_ATTEMPT = "io.kubernetes.container.restartCount"


class Kubelet:
    def __init__(self, store: Store, runtime: Runtime, images: ImageStore, root: Path, *,
                 node_name: str, host_ip: str = "127.0.0.1") -> None:
        self.store, self.runtime, self.images = store, runtime, images
        self.root = root
        self.node_name, self.host_ip = node_name, host_ip
        self.recorder = Recorder(store, node_name)
        self.backoff = BackOff()
        self.workers: dict[str, PodWorker] = {}
        self.by_container: dict[str, tuple[PodWorker, ContainerRecord]] = {}
        self.seen_exits: set[str] = set()

    # -- paths ---------------------------------------------------------------------------
    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def overlay_dir(self, cid: str) -> Path:
        return self.root / "overlay" / cid

    def log_dir(self, pod: Obj) -> Path:
        m = pod["metadata"]
        return self.root / "logs" / f"{m.get('namespace')}_{m['name']}_{m['uid']}"

    def log_path(self, pod: Obj, name: str, attempt: int) -> Path:
        return self.log_dir(pod) / name / f"{attempt}.log"

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        watcher, _ = self.store.watch("pods", None, None, lambda o: True)
        try:
            await self.recover()
            poller = asyncio.ensure_future(self.poll_exits())
            try:
                while True:
                    event = await watcher.queue.get()
                    if event is None:
                        watcher, _ = self.store.watch("pods", None, None, lambda o: True)
                        self.resync()
                        continue
                    self.dispatch(event.object, deleted=event.type == "DELETED")
            finally:
                poller.cancel()
        finally:
            self.store.unwatch(watcher)

    def resync(self) -> None:
        pods, _ = self.store.list("pods")
        for pod in pods:
            self.dispatch(pod)

    def dispatch(self, pod: Obj, deleted: bool = False) -> None:
        uid = pod["metadata"].get("uid")
        node = pod.get("spec", {}).get("nodeName")
        if not uid or (node and node != self.node_name):
            return
        worker = self.workers.get(uid)
        if worker is None:
            if deleted:
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.task = asyncio.ensure_future(worker.run())
        worker.update(pod, deleted)

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        for cid in [c for c, (w, _r) in self.by_container.items() if w is worker]:
            del self.by_container[cid]
        self.backoff.forget(worker.uid + "/")

    async def poll_exits(self) -> None:
        while True:
            await asyncio.sleep(EXIT_POLL)
            try:
                exited = self.runtime.exited()
            except OSError:
                continue
            for cid, code in exited.items():
                if cid in self.seen_exits or cid not in self.by_container:
                    continue
                self.seen_exits.add(cid)
                await self.on_exit(cid, code)

    async def on_exit(self, cid: str, code: int) -> None:
        worker, rec = self.by_container[cid]
        if rec.id != cid or rec.exit_code is not None:
            return
        oom = False
        with contextlib.suppress(ContainerRuntimeError, OSError):
            oom = (await self.runtime.state(cid)).oom_killed
        message = self.termination_message(worker, rec, code)
        worker.on_exit(rec, code, oom, message)

    def termination_message(self, worker: PodWorker, rec: ContainerRecord, code: int) -> str:
        spec = worker.container_spec(rec.name)
        path = self.pod_dir(worker.uid) / "containers" / rec.name / (rec.id or "")[:8]
        try:
            with open(path, "rb") as f:
                text = f.read(4096).decode("utf-8", "replace")
        except OSError:
            text = ""
        if not text and code != 0 and spec.get("terminationMessagePolicy") == \
                "FallbackToLogsOnError":
            lines = list(logfiles.parse_lines(self._read_log(worker.pod, rec)))[-80:]
            text = b"".join(ln.content for ln in lines).decode("utf-8", "replace")[-2048:]
        return text

    def _read_log(self, pod: Obj, rec: ContainerRecord) -> bytes:
        try:
            return self.log_path(pod, rec.name, rec.attempt).read_bytes()
        except OSError:
            return b""

    # -- store writes --------------------------------------------------------------------
    def bind(self, pod: Obj) -> Obj:
        """Act as the scheduler: assign the Pod to this node."""
        current = self.store.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        current["spec"]["nodeName"] = self.node_name
        current.setdefault("status", {})["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": meta.rfc3339()}]
        updated = self.store.update("pods", current)
        m = updated["metadata"]
        self.recorder.event(updated, "Normal", "Scheduled",
                            f"Successfully assigned {m['namespace']}/{m['name']} to "
                            f"{self.node_name}", component="default-scheduler")
        return updated

    def write_status(self, pod: Obj, status: Obj) -> Obj:
        m = pod["metadata"]
        try:
            current = self.store.get("pods", m["namespace"], m["name"])
        except errors.NotFoundError:
            return pod
        if current["metadata"].get("uid") != m.get("uid"):
            return pod
        if current.get("status") == status:
            return current
        current["status"] = status
        return self.store.update("pods", current)

    def remove_from_store(self, pod: Obj) -> None:
        m = pod["metadata"]
        with contextlib.suppress(errors.NotFoundError):
            current = self.store.get("pods", m["namespace"], m["name"])
            if current["metadata"].get("uid") == m.get("uid"):
                self.store.delete("pods", m["namespace"], m["name"])

    # -- sandbox, volumes, files ---------------------------------------------------------
    async def prepare_sandbox(self, worker: PodWorker) -> None:
        pod_dir = self.pod_dir(worker.uid)
        emptydir.make_pod_dirs(pod_dir)
        ns_dir = pod_dir / "ns"
        if not sandbox.sandbox_exists(ns_dir):
            await sandbox.create_sandbox(ns_dir, podfiles.hostname(worker.pod))
        podfiles.write_pod_files(pod_dir, worker.pod, None)

    def volume_mounts(self, worker: PodWorker, container: Obj,
                      env: dict[str, str]) -> list[Mount]:
        """Set up (idempotently) the volumes this container mounts; binds for the runtime."""
        mounts = []
        for vm in volumes.container_mounts(self.pod_dir(worker.uid), worker.pod, container, env):
            options = ["rbind", "rprivate" if vm.propagation == "private" else vm.propagation]
            if vm.read_only:
                options.append("ro")
            mounts.append(Mount(vm.container_path, vm.host_path, "bind", tuple(options)))
        return mounts

    def file_mounts(self, worker: PodWorker, rec: ContainerRecord, container: Obj,
                    taken: set[str]) -> list[Mount]:
        pod_dir = self.pod_dir(worker.uid)
        mounts = []
        for dest, src in podfiles.write_pod_files(pod_dir, worker.pod, None).items():
            if dest not in taken:
                mounts.append(Mount(dest, str(src), "bind", ("rbind", "rprivate")))
        term_dir = pod_dir / "containers" / rec.name
        term_dir.mkdir(parents=True, exist_ok=True)
        term = term_dir / (rec.id or "")[:8]
        term.touch(mode=0o666)
        os.chmod(term, 0o666)
        path = container.get("terminationMessagePath") or "/dev/termination-log"
        if path not in taken:
            mounts.append(Mount(path, str(term), "bind", ("rbind", "rprivate")))
        return mounts

    # -- containers ----------------------------------------------------------------------
    async def start_container(self, worker: PodWorker, rec: ContainerRecord) -> None:
        pod = worker.pod
        spec = worker.container_spec(rec.name)
        field_path = container_field_path(rec.name, rec.init)
        if rec.id is not None:
            await self.remove_container(rec.id, keep_exit=True)
            if rec.exit_code is not None:
                rec.last_state = rec.terminated_state()
                rec.attempt += 1
        rec.id, rec.started_at, rec.finished_at, rec.exit_code = None, None, None, None
        rec.reason, rec.message = "", ""
        try:
            image = self.images.get(spec["image"])
        except ImageError as e:
            self._fail(worker, rec, "ErrImageNeverPull" if "not found" in str(e)
                       else "ErrImagePull", f"{e}", "Failed", field_path)
            return
        rec.image_id = image.repo_digests[0] if image.repo_digests else image.id
        self.recorder.normal(pod, "Pulled", f'Container image "{spec["image"]}" already '
                             "present on machine", field_path)
        cid = secrets.token_hex(32)
        try:
            cfg = self.container_config(worker, rec, spec, image, cid)
        except (VolumeSetupError, LookupError, OSError) as e:
            self._fail(worker, rec, "CreateContainerConfigError", str(e), "Failed", field_path)
            return
        rec.id = cid
        self.by_container[cid] = (worker, rec)
        try:
            await self.runtime.create(cfg)
            self.recorder.normal(pod, "Created", f"Created container: {rec.name}", field_path)
            await self.runtime.start(cid)
        except ContainerRuntimeError as e:
            await self.remove_container(cid)
            rec.id = None
            self._fail(worker, rec, "RunContainerError", str(e), "Failed", field_path)
            return
        rec.started_at = meta.rfc3339()
        rec.waiting_reason, rec.waiting_message = "", ""
        rec.ready = True
        self.recorder.normal(pod, "Started", f"Started container {rec.name}", field_path)

    def _fail(self, worker: PodWorker, rec: ContainerRecord, reason: str, message: str,
              event: str, field_path: str) -> None:
        if rec.exit_code is not None:
            rec.last_state = rec.terminated_state()
        rec.exit_code = None
        rec.waiting_reason, rec.waiting_message = reason, message
        self.recorder.warning(worker.pod, event, f"Error: {message}", field_path)
        worker.wake_in(1.0)

    def container_config(self, worker: PodWorker, rec: ContainerRecord, spec: Obj, image: Any,
                         cid: str) -> ContainerConfig:
        pod = worker.pod
        image_config = image.config.get("config") or {}
        process = containers.process_spec(pod, spec, image_config)
        overlay = self.overlay_dir(cid)
        rootfs = snapshots.prepare_rootfs(overlay, self.images.layer_dirs(image))
        uid, gid = containers.resolve_user(process.user, *_user_files(rootfs))
        rec.id = cid
        mounts = self.volume_mounts(worker, spec, dict(e.split("=", 1) for e in process.env))
        taken = {m.destination for m in mounts}
        mounts += self.file_mounts(worker, rec, spec, taken)
        log_path = self.log_path(pod, rec.name, rec.attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        m = pod["metadata"]
        sc = spec.get("securityContext") or {}
        return ContainerConfig(
            id=cid, name=f"{m['name']}_{rec.name}", rootfs=rootfs, args=process.args,
            env=process.env, cwd=process.cwd, uid=uid, gid=gid,
            hostname=podfiles.hostname(pod),
            namespaces={k: str(self.pod_dir(worker.uid) / "ns" / f)
                        for k, f in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"))},
            mounts=tuple(mounts), log_path=log_path, tty=bool(spec.get("tty")),
            stdin=bool(spec.get("stdin")), privileged=bool(sc.get("privileged")),
            no_new_privileges=not (sc.get("allowPrivilegeEscalation") or sc.get("privileged")),
            readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
            stop_signal=image_config.get("StopSignal") or "SIGTERM",
            labels={LABEL_UID: worker.uid, LABEL_NAME: m["name"],
                    LABEL_NAMESPACE: m.get("namespace", ""), LABEL_CONTAINER: rec.name,
                    LABEL_ATTEMPT: str(rec.attempt)},
            annotations={"io.podhost.image-id": rec.image_id})

    async def remove_container(self, cid: str, keep_exit: bool = False) -> None:
        with contextlib.suppress(ContainerRuntimeError, OSError):
            await self.runtime.delete(cid)
        with contextlib.suppress(Exception):
            snapshots.remove_rootfs(self.overlay_dir(cid))
            self.overlay_dir(cid).rmdir()
        self.by_container.pop(cid, None)
        if not keep_exit:
            self.seen_exits.discard(cid)

    async def stop_all(self, worker: PodWorker, grace: float) -> None:
        stops = []
        for rec in worker.records.values():
            if rec.running and rec.id:
                spec = worker.container_spec(rec.name)
                self.recorder.normal(worker.pod, "Killing", f"Stopping container {rec.name}",
                                     container_field_path(rec.name, rec.init))
                stops.append(self._stop(rec, spec, grace))
        if stops:
            await asyncio.gather(*stops)
        for rec in worker.records.values():
            if rec.id and rec.exit_code is None:
                code = self.runtime.exited().get(rec.id)
                worker.on_exit(rec, code if code is not None else 137, False, "")

    async def _stop(self, rec: ContainerRecord, spec: Obj, grace: float) -> None:
        signal = "SIGTERM"
        with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
            signal = self.runtime.metadata(rec.id).get("stop_signal") or signal
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.stop(rec.id, grace, signal)

    async def cleanup_pod(self, worker: PodWorker) -> None:
        """Everything of the Pod goes: containers, rootfs, volumes, sandbox, directories."""
        for rec in worker.records.values():
            if rec.id:
                await self.remove_container(rec.id)
        for cid, labels in self.runtime_containers().items():
            if labels.get(LABEL_UID) == worker.uid:
                await self.remove_container(cid)
        await self.cleanup_dirs(worker.uid, worker.pod)

    async def cleanup_dirs(self, uid: str, pod: Obj | None) -> None:
        pod_dir = self.pod_dir(uid)
        volumes.tear_down_pod(pod_dir)
        await sandbox.remove_sandbox(pod_dir / "ns")
        shutil.rmtree(pod_dir, ignore_errors=True)
        if pod is not None:
            shutil.rmtree(self.log_dir(pod), ignore_errors=True)

    async def cleanup_terminal(self, worker: PodWorker) -> None:
        """A finished Pod keeps its record and logs but releases volumes and the sandbox (K1)."""
        volumes.tear_down_pod(self.pod_dir(worker.uid))
        if worker.sandbox_ready:
            await sandbox.remove_sandbox(self.pod_dir(worker.uid) / "ns")
            worker.sandbox_ready = False

    def runtime_containers(self) -> dict[str, dict[str, str]]:
        out = {}
        for cid in self.runtime.list():
            with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
                out[cid] = self.runtime.metadata(cid).get("labels") or {}
        return out

    # -- recovery after a restart of the node ---------------------------------------------
    async def recover(self) -> None:
        """Adopt the containers of Pods that still exist; remove everything else."""
        pods, _ = self.store.list("pods")
        by_uid = {p["metadata"]["uid"]: p for p in pods}
        for cid, labels in self.runtime_containers().items():
            uid = labels.get(LABEL_UID)
            if uid not in by_uid:
                await self.remove_container(cid)
                continue
            worker = self.workers.get(uid)
            if worker is None:
                worker = PodWorker(self, by_uid[uid])
                worker.sandbox_ready = sandbox.sandbox_exists(self.pod_dir(uid) / "ns")
                self.workers[uid] = worker
            await self.adopt(worker, cid, labels)
        known = set(by_uid)
        pods_root = self.root / "pods"
        if pods_root.is_dir():
            for entry in pods_root.iterdir():
                if entry.name not in known:
                    await self.cleanup_dirs(entry.name, None)
        for worker in self.workers.values():
            worker.task = asyncio.ensure_future(worker.run())

    async def adopt(self, worker: PodWorker, cid: str, labels: dict[str, str]) -> None:
        rec = worker.records.get(labels.get(LABEL_CONTAINER, ""))
        if rec is None:
            await self.remove_container(cid)
            return
        attempt = int(labels.get(LABEL_ATTEMPT, "0"))
        if rec.id is not None and rec.attempt >= attempt:
            await self.remove_container(cid)
            return
        if rec.id is not None:
            await self.remove_container(rec.id)
        state = await self.runtime.state(cid)
        rec.id, rec.attempt = cid, attempt
        rec.started_at = meta.rfc3339(_from_ts(state.started_at)) if state.started_at else \
            meta.rfc3339()
        rec.waiting_reason = ""
        rec.image_id = (self.runtime.metadata(cid).get("annotations") or {}).get(
            "io.podhost.image-id", "")
        self.by_container[cid] = (worker, rec)
        if state.status in ("running", "created") and state.exit_code is None:
            rec.ready = True
            if state.status == "created":
                with contextlib.suppress(ContainerRuntimeError):
                    await self.runtime.start(cid)
        else:
            code = state.exit_code if state.exit_code is not None else 137
            self.seen_exits.add(cid)
            worker.on_exit(rec, code, state.oom_killed, "")
            if state.finished_at:
                rec.finished_at = meta.rfc3339(_from_ts(state.finished_at))

    # -- NodeBackend: exec and logs -------------------------------------------------------
    def _find(self, namespace: str, name: str) -> PodWorker:
        for worker in self.workers.values():
            m = worker.pod["metadata"]
            if m["name"] == name and m.get("namespace") == namespace:
                return worker
        raise errors.NotFoundError.of("pods", name)

    async def exec(self, namespace: str, name: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> ExecProcess:  # NodeBackend
        worker = self._find(namespace, name)
        rec = worker.records.get(container)
        if rec is None or not rec.running or rec.id is None:
            raise errors.BadRequestError(f'container not found ("{container}")')
        try:
            session = await self.runtime.exec(rec.id, command, tty=tty, stdin=stdin)
            return ExecProcess(session)
        except ExecStartError as e:
            raise errors.InternalError(
                "Internal error occurred: error executing command in container: failed to exec "
                f"in container: failed to start exec: OCI runtime exec failed: {e}: unknown"
            ) from None
        except ContainerRuntimeError as e:
            raise errors.InternalError(f"Internal error occurred: error executing command in "
                                       f"container: {e}") from None

    async def logs(self, namespace: str, name: str, options: LogOptions) -> AsyncIterator[bytes]:
        worker = self._find(namespace, name)
        container = options.container
        if not container:
            names = [c["name"] for c in worker.pod["spec"]["containers"]]
            if len(names) != 1:
                raise errors.BadRequestError(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(names)}]")
            container = names[0]
        rec = worker.records.get(container)
        if rec is None:
            raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
        attempt = rec.attempt
        if options.previous:
            if not rec.last_state:
                raise errors.BadRequestError(f'previous terminated container "{container}" in '
                                             f'pod "{name}" not found')
            attempt = rec.attempt - 1 if rec.id else rec.attempt
        elif rec.id is None and rec.exit_code is None:
            raise errors.BadRequestError(f'container "{container}" in pod "{name}" is waiting '
                                         f'to start: {rec.waiting_reason or "ContainerCreating"}')
        since = None
        if options.since_seconds is not None:
            since = meta.now() - __import__("datetime").timedelta(seconds=options.since_seconds)
        elif options.since_time:
            since = meta.parse_time(options.since_time)
        path = self.log_path(worker.pod, container, attempt)
        current_id = rec.id

        def alive() -> bool:
            return not options.previous and rec.id == current_id and rec.running

        return logfiles.stream(path, follow=options.follow, timestamps=options.timestamps,
                               tail=options.tail_lines, since=since, limit=options.limit_bytes,
                               alive=alive)


def _from_ts(ts: float) -> Any:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc)


def _user_files(rootfs: Path) -> tuple[str, str]:
    """/etc/passwd and /etc/group of the image, refusing symlinks that could leave the rootfs."""
    etc = rootfs / "etc"
    paths = []
    for name in ("passwd", "group"):
        p = etc / name
        if etc.is_symlink() or p.is_symlink():
            paths.append("/nonexistent")
        else:
            paths.append(str(p))
    return paths[0], paths[1]
