"""The node's sync loop: watches Pods in the store, runs one PodWorker per Pod UID, polls the
runtime for container exits, and serves exec and logs for the API server (NodeBackend)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from podhost.api import errors, meta
from podhost.api.nodeapi import LogOptions
from podhost.api.types import Obj
from podhost.host.mount import propagation_of
from podhost.images import puller, snapshots
from podhost.images.auth import load_auth
from podhost.images.errors import ImageError, ImageNeverPullError
from podhost.images.inuse import write_in_use
from podhost.images.registries import load_registries
from podhost.images.store import ImageStore
from podhost.network import NetworkError
from podhost.network.bridge import PodNetwork
from podhost.network.hostports import pod_port_mappings, port_conflict
from podhost.node import attach as attaching
from podhost.node import containers, podfiles, probes, stats
from podhost.node import logs as logfiles
from podhost.node.backoff import BackOff
from podhost.node.events import Recorder, container_field_path
from podhost.node.execs import ExecProcess
from podhost.node.probes import ProbeError
from podhost.node.probes import container_probes as probe_specs
from podhost.node.status import ContainerRecord
from podhost.node.worker import PodWorker
from podhost.runtime import sandbox
from podhost.runtime.errors import ContainerRuntimeError, ExecStartError
from podhost.runtime.runc import Runtime
from podhost.runtime.spec import ALL_CAPABILITIES, DEFAULT_CAPABILITIES
from podhost.runtime.types import ContainerConfig, Mount
from podhost.store.sqlite import Store
from podhost.volumes import emptydir, eviction
from podhost.volumes import manager as volumes
from podhost.volumes.emptydir import VolumeSetupError

log = logging.getLogger(__name__)

EXIT_POLL = 0.1
LOG_ROTATE_EVERY = 10.0
LABEL_UID = "io.kubernetes.pod.uid"
LABEL_NAME = "io.kubernetes.pod.name"
LABEL_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_ATTEMPT = "io.kubernetes.container.restartCount"


LOOPBACK = "127.0.0.1"  # the Pod IP when the node has no Pod network
DRAIN_TIMEOUT = 10.0  # seconds a stopping node waits for Pods being torn down
RECOVERY_WAIT = 60.0  # seconds exec, logs and port-forward wait for a restart's adoption
NEVER_PULL_RETRY = 10.0  # seconds; kubelet re-syncs a Pod with an error after its back-off


class Kubelet:
    def __init__(self, store: Store, runtime: Runtime, images: ImageStore, root: Path, *,
                 node_name: str, host_ip: str = "127.0.0.1",
                 registries_conf: Path | None = None, network: PodNetwork | None = None
                 ) -> None:
        self.store, self.runtime, self.images = store, runtime, images
        self.network = network  # None: Pods have loopback only (podIP 127.0.0.1)
        self.registries = load_registries(registries_conf)
        self.pull_errors: dict[str, str] = {}
        self.root = root
        self.node_name, self.host_ip = node_name, host_ip
        self.recorder = Recorder(store, node_name)
        self.backoff = BackOff()
        self.workers: dict[str, PodWorker] = {}
        self.by_container: dict[str, tuple[PodWorker, ContainerRecord]] = {}
        self.seen_exits: set[str] = set()
        self.finished: set[str] = set()  # Pods done on the node, kept by their finalizers
        self.recovered = asyncio.Event()  # set once outliving containers are adopted
        self.images_in_use: set[str] | None = None  # as last written to in-use.json
        self.log_max_size, self.log_max_files = logfiles.MAX_SIZE, logfiles.MAX_FILES
        self.sampler = stats.Sampler()  # CPU usage needs the previous sample

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
            self.recovered.set()
            poller = asyncio.ensure_future(self.poll_exits())
            rotator = asyncio.ensure_future(self.rotate_logs_loop())
            evictions = asyncio.ensure_future(self.check_evictions())
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
                rotator.cancel()
                evictions.cancel()
        finally:
            self.store.unwatch(watcher)

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """At shutdown: let the Pods already terminating finish their clean-up, so that a node
        stopped right after a delete leaves nothing behind (running Pods keep running and are
        adopted on the next start; a termination cut short is finished then)."""
        tasks = [w.task for w in self.workers.values()
                 if w.task is not None and not w.task.done() and (w.terminated or w.terminating())]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def resync(self) -> None:
        pods, _ = self.store.list("pods")
        self.finished &= {p["metadata"]["uid"] for p in pods}  # a DELETED may have been missed
        for pod in pods:
            self.dispatch(pod)

    def dispatch(self, pod: Obj, deleted: bool = False) -> None:
        uid = pod["metadata"].get("uid")
        node = pod.get("spec", {}).get("nodeName")
        if not uid or (node and node != self.node_name):
            return
        if uid in self.finished or _held_by_finalizers(pod):
            if deleted:  # its finalizers went: nothing of it is left on the node
                self.finished.discard(uid)
            if uid not in self.workers:
                return
        worker = self.workers.get(uid)
        if worker is None:
            if deleted:
                if self.pod_dir(uid).exists():  # made before a crash, never run
                    asyncio.ensure_future(self.cleanup_dirs(uid, pod))
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

    async def rotate_logs_loop(self) -> None:
        while True:
            await asyncio.sleep(LOG_ROTATE_EVERY)
            with contextlib.suppress(Exception):
                self.rotate_logs()

    def rotate_logs(self) -> None:
        """kubelet's container log manager: rotate live logs over log_max_size (conmon reopens)."""
        for cid, (worker, rec) in list(self.by_container.items()):
            if rec.id != cid or not rec.running:
                continue
            path = self.log_path(worker.pod, rec.name, rec.attempt)
            try:
                if path.stat().st_size < self.log_max_size:
                    continue
                logfiles.rotate(path, meta.now(), self.log_max_files)
            except OSError:
                continue
            with contextlib.suppress(ContainerRuntimeError, OSError):
                self.runtime.reopen_log(cid)

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
        current = self._same_pod(pod)
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

    def _same_pod(self, pod: Obj) -> Obj:
        """The stored Pod, if it is still this one (not a new Pod of the same name)."""
        m = pod["metadata"]
        current = self.store.get("pods", m["namespace"], m["name"])
        if current["metadata"].get("uid") != m.get("uid"):
            raise errors.NotFoundError.of("pods", m["name"])
        return current

    def mark_unschedulable(self, pod: Obj, message: str) -> Obj:
        """Leave the Pod Pending with PodScheduled False, as the scheduler does when no node
        fits; the FailedScheduling event is recorded on every attempt (aggregated)."""
        current = self._same_pod(pod)
        status = current.setdefault("status", {})
        old = next((c for c in status.get("conditions") or []
                    if c.get("type") == "PodScheduled"), {})
        if old.get("reason") != "Unschedulable" or old.get("message") != message:
            status["phase"] = "Pending"
            status["conditions"] = [{"type": "PodScheduled", "status": "False",
                                     "lastProbeTime": None, "lastTransitionTime": meta.rfc3339(),
                                     "reason": "Unschedulable", "message": message}]
            current = self.store.update("pods", current)
        self.recorder.event(current, "Warning", "FailedScheduling", message,
                            component="default-scheduler")
        return current

    def write_status(self, pod: Obj, status: Obj) -> Obj:
        m = pod["metadata"]
        try:
            current = self.store.get("pods", m["namespace"], m["name"])
        except errors.NotFoundError:
            return pod
        if current["metadata"].get("uid") != m.get("uid"):
            return pod
        status = eviction.keep_terminal(current.get("status") or {}, status)
        if current.get("status") == status:
            return current
        current["status"] = status
        return self.store.update("pods", current)

    def remove_from_store(self, pod: Obj) -> None:
        """The end of a Pod on the node: deleted with grace period 0 (the Pod's finalizers,
        if any, keep it in the store until they are removed; the node is done with it)."""
        m = pod["metadata"]
        with contextlib.suppress(errors.NotFoundError):
            current = self.store.get("pods", m["namespace"], m["name"])
            cm = current["metadata"]
            if cm.get("uid") != m.get("uid"):
                return
            if not cm.get("finalizers"):
                self.store.delete("pods", m["namespace"], m["name"])
                return
            self.finished.add(m["uid"])
            if cm.get("deletionGracePeriodSeconds") != 0:
                cm["deletionGracePeriodSeconds"] = 0
                self.store.update("pods", current)

    # -- sandbox, volumes, files ---------------------------------------------------------
    async def prepare_sandbox(self, worker: PodWorker) -> None:
        pod_dir = self.pod_dir(worker.uid)
        emptydir.make_pod_dirs(pod_dir)
        ns_dir = pod_dir / "ns"
        if not sandbox.sandbox_exists(ns_dir):
            await self.create_sandbox(worker, ns_dir)
        else:
            worker.pod_ip = self.pod_ip(worker.uid)
        if worker.pod["spec"].get("shareProcessNamespace"):
            await asyncio.to_thread(sandbox.create_pid_namespace_sync, ns_dir)
        podfiles.write_pod_files(pod_dir, worker.pod, worker.pod_ip)

    async def create_sandbox(self, worker: PodWorker, ns_dir: Path) -> None:
        """New namespaces and, with a Pod network, the Pod's address on the node's bridge."""
        hostname = podfiles.hostname(worker.pod)
        if self.network is None:
            await sandbox.create_sandbox(ns_dir, hostname)
            worker.pod_ip = LOOPBACK
            return
        try:
            iface = self.network.interface(worker.uid)
            await sandbox.create_sandbox(ns_dir, hostname, iface)
            self.network.attach(iface)
            worker.pod_ip = iface.ip
            self.sync_host_ports(include=worker)
        except (NetworkError, ContainerRuntimeError, OSError):
            worker.pod_ip = None
            await sandbox.remove_sandbox(ns_dir)
            self.network.release(worker.uid)
            raise

    def pod_ip(self, uid: str) -> str:
        """The address of a Pod whose sandbox exists (made before a restart of the node)."""
        if self.network is None:
            return LOOPBACK
        try:
            return self.network.reattach(uid) or ""
        except NetworkError as e:
            log.error("Pod %s: %s", uid, e)
            return self.network.address_of(uid) or ""

    async def remove_sandbox(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.sandbox_ready = False  # its host ports go now, and stay gone
        if self.network is not None:
            with contextlib.suppress(NetworkError):  # logged; the table is rebuilt at start
                self.sync_host_ports(exclude=uid)
        await sandbox.remove_sandbox(self.pod_dir(uid) / "ns")
        if self.network is not None:
            self.network.release(uid)

    def sync_host_ports(self, include: PodWorker | None = None, exclude: str = "") -> None:
        """Make the node's hostPort table map the ports of the Pods that have a sandbox."""
        if self.network is None:
            return
        workers = [w for w in self.workers.values()
                   if (w.sandbox_ready or w is include) and w.pod_ip and w.uid != exclude
                   and not w.terminated]
        if include is not None and include not in workers:
            workers.append(include)
        mappings, taken = [], set()
        for w in workers:  # a clash (Pods bound by hand) maps the port to the older Pod
            for m in pod_port_mappings(w.pod, w.pod_ip or ""):
                if (m.protocol, m.host_ip, m.host_port) not in taken:
                    taken.add((m.protocol, m.host_ip, m.host_port))
                    mappings.append(m)
        try:
            self.network.host_ports.apply(mappings)
        except NetworkError as e:
            log.error("hostPort mappings not applied: %s", e)
            raise

    def port_conflict(self, worker: PodWorker) -> bool:
        """Would the Pod's hostPorts clash with those of a Pod already on this node?"""
        others = [w.pod for w in self.workers.values()
                  if w is not worker and w.pod["spec"].get("nodeName") and not w.terminated
                  and w.pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        try:
            return port_conflict(worker.pod, others)
        except NetworkError:  # a port the node cannot map: bound, then FailedCreatePodSandBox
            return False

    def volume_mounts(self, worker: PodWorker, container: Obj,
                      env: dict[str, str]) -> list[Mount]:
        """Set up (idempotently) the volumes this container mounts; binds for the runtime."""
        mounts = []
        for vm in volumes.container_mounts(self.pod_dir(worker.uid), worker.pod, container, env,
                                           self.store):
            ensure_propagation(vm.host_path, vm.propagation)
            options = ["rbind", "rprivate" if vm.propagation == "private" else vm.propagation]
            if vm.read_only:
                options.append("ro")
            mounts.append(Mount(vm.container_path, vm.host_path, "bind", tuple(options)))
        return mounts

    def file_mounts(self, worker: PodWorker, rec: ContainerRecord, container: Obj,
                    taken: set[str]) -> list[Mount]:
        pod_dir = self.pod_dir(worker.uid)
        mounts = []
        for dest, src in podfiles.write_pod_files(pod_dir, worker.pod, worker.pod_ip).items():
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
        image = await self.pull_image(worker, rec, spec, field_path)
        if image is None:
            return
        rec.image_id = image.repo_digests[0] if image.repo_digests else image.id
        cid = secrets.token_hex(32)
        try:
            cfg = self.container_config(worker, rec, spec, image, cid)
        except (VolumeSetupError, LookupError, ValueError, OSError) as e:
            await self.remove_container(cid)  # its root filesystem, if it got that far
            self._fail(worker, rec, "CreateContainerConfigError", str(e), "Failed", field_path)
            return
        except ContainerRuntimeError as e:  # what CRI-O's CreateContainer refuses
            await self.remove_container(cid)
            self._fail(worker, rec, "CreateContainerError", str(e), "Failed", field_path)
            return
        rec.id = cid
        self.by_container[cid] = (worker, rec)
        self.record_images_in_use()
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
        probes = probe_specs(spec)
        rec.started_ok = "Startup" not in probes
        rec.ready = not probes.keys() & {"Startup", "Readiness"}
        self.recorder.normal(pod, "Started", f"Started container {rec.name}", field_path)
        hook = (spec.get("lifecycle") or {}).get("postStart")
        if hook:
            error = await self.run_hook(worker, rec, spec, "PostStart", hook,
                                        worker.grace_period() or 30.0)
            if error is not None:
                self.recorder.warning(pod, "FailedPostStartHook", error, field_path)
                await self.kill_container(worker, rec, worker.grace_period(),
                                          "FailedPostStartHook", run_pre_stop=False)
                return
        if probes and rec.running:
            worker.start_probes(rec)

    # -- probes and hooks ----------------------------------------------------------------
    async def exec_capture(self, cid: str, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """Run argv in the container; (exit status, stdout+stderr). TimeoutError on timeout."""
        try:
            session = await self.runtime.exec(cid, argv)
        except ExecStartError as e:
            return 126, str(e).encode()
        except ContainerRuntimeError as e:
            raise ProbeError(str(e)) from None

        async def drain() -> tuple[int, bytes]:
            out, err = await asyncio.gather(_read_all(session.read_stdout),
                                            _read_all(session.read_stderr))
            return await session.wait(), out + err

        try:
            return await asyncio.wait_for(drain(), timeout)
        finally:
            await session.close()

    async def run_handler(self, worker: PodWorker, rec: ContainerRecord, container: Obj,
                          handler: Obj, timeout: float) -> str:
        cid = rec.id
        if cid is None:
            raise ProbeError(f"container {rec.name} is not running")

        async def run(argv: list[str], t: float) -> tuple[int, bytes]:
            return await self.exec_capture(cid, argv, t)

        return await probes.run_handler(handler, run=run,
                                        netns=self.pod_dir(worker.uid) / "ns" / "net",
                                        container=container, timeout=timeout,
                                        pod_ip=worker.pod_ip or LOOPBACK)

    async def run_hook(self, worker: PodWorker, rec: ContainerRecord, container: Obj,
                       kind: str, hook: Obj, timeout: float) -> str | None:
        """Run a lifecycle hook; None on success, else kubelet's failure message."""
        try:
            await self.run_handler(worker, rec, container, hook, max(timeout, 0.0))
            return None
        except (TimeoutError, ProbeError) as e:
            m = worker.pod["metadata"]
            what = probes.handler_kind(hook)
            label = {"exec": "Exec", "httpGet": "HTTP", "sleep": "Sleep"}.get(what, what)
            command = " ".join((hook.get("exec") or {}).get("command") or [])
            detail = (f"[{command}]" if what == "exec"
                      else (hook.get("httpGet") or {}).get("path", ""))
            text = str(e).strip() or "timed out"
            if isinstance(e, ProbeError) and e.exit_code is not None:
                text = (f"command '{command}' exited with {e.exit_code}: {e.output}, "
                        f"message: {json.dumps(e.output)}")
            return (f'{label} lifecycle hook ({detail}) for Container "{rec.name}" in Pod '
                    f'"{m["name"]}_{m.get("namespace")}({worker.uid})" failed - error: {text}')

    async def pull_image(self, worker: PodWorker, rec: ContainerRecord, spec: Obj,
                         field_path: str) -> Any:
        """The container's image under its pull policy, with kubelet's events and back-off;
        None (status and events set, worker woken later) when it cannot be had yet."""
        pod, ref = worker.pod, spec["image"]
        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        key = f"{worker.uid}/pull/{ref}"
        left = self.backoff.in_backoff(key, time.monotonic())
        if left > 0:
            self.recorder.normal(pod, "BackOff", f'Back-off pulling image "{ref}"', field_path)
            rec.waiting_reason = "ImagePullBackOff"
            rec.waiting_message = (f'Back-off pulling image "{ref}": ErrImagePull: '
                                   f'{self.pull_errors.get(key, "")}')
            self.recorder.warning(pod, "Failed", "Error: ImagePullBackOff", field_path)
            worker.wake_in(left)
            return None
        if puller.needs_pull(self.images, ref, policy):
            self.recorder.normal(pod, "Pulling", f'Pulling image "{ref}"', field_path)
        try:
            image, pulled, seconds = await puller.ensure_image(
                self.images, ref, policy, self.registries, load_auth())
        except ImageError as e:
            never = isinstance(e, ImageNeverPullError)
            local = None if never else self._present(ref)
            if local is not None:
                # offline node: a registry that cannot be reached does not stop a Pod whose
                # image is already here (podhost's choice; kubelet would fail the pull)
                self.recorder.warning(pod, "Failed", f'Failed to pull image "{ref}": {e}; '
                                      "using the image present on the node", field_path)
                return local
            reason = "ErrImageNeverPull" if never else "ErrImagePull"
            self.recorder.warning(pod, reason if never else "Failed",
                                  f"{e}" if never else f'Failed to pull image "{ref}": {e}',
                                  field_path)
            self.recorder.warning(pod, "Failed", f"Error: {reason}", field_path)
            rec.waiting_reason, rec.waiting_message = reason, str(e)
            if never:  # no pull was tried: kubelet retries on the next sync, without back-off
                worker.wake_in(NEVER_PULL_RETRY)
                return None
            self.pull_errors[key] = str(e)
            self.backoff.next(key, time.monotonic())
            worker.wake_in(1.0)
            return None
        self.backoff.forget(key)
        self.recorder.normal(pod, "Pulled", puller.pulled_message(ref, image, pulled, seconds),
                             field_path)
        return image

    def _present(self, ref: str) -> Any:
        try:
            return self.images.get(ref)
        except ImageError:
            return None

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
        node = {"host_ip": self.host_ip, "pod_ip": worker.pod_ip or "",
                "cpus": os.cpu_count() or 1, "memory": _node_memory(),
                "store": self.store}  # envFrom, configMapKeyRef, secretKeyRef
        process = containers.process_spec(pod, spec, image_config, node=node)
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
        psc = pod["spec"].get("securityContext") or {}
        sc = spec.get("securityContext") or {}
        limits = containers.resource_limits(spec)
        caps = containers.capabilities(sc, DEFAULT_CAPABILITIES)
        if caps == ("ALL",):
            caps = ALL_CAPABILITIES
        # kubelet adds fsGroup to the supplemental groups, so the volume files it chowns are
        # writable by the container whatever its user
        groups = tuple(dict.fromkeys(int(g) for g in [*(psc.get("supplementalGroups") or []),
                                                      *([psc["fsGroup"]] if psc.get("fsGroup")
                                                        is not None else [])]))
        return ContainerConfig(
            id=cid, name=f"{m['name']}_{rec.name}", rootfs=rootfs, args=process.args,
            env=process.env, cwd=process.cwd, uid=uid, gid=gid,
            hostname=podfiles.hostname(pod),
            namespaces={k: str(self.pod_dir(worker.uid) / "ns" / f)
                        for k, f in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"),
                                     ("pid", "pid"))
                        if k != "pid" or pod["spec"].get("shareProcessNamespace")},
            mounts=tuple(mounts), log_path=log_path,
            log_size_max=self.log_max_size * self.log_max_files, tty=bool(spec.get("tty")),
            stdin=bool(spec.get("stdin")), stdin_once=bool(spec.get("stdinOnce")),
            privileged=bool(sc.get("privileged")),
            no_new_privileges=not (sc.get("allowPrivilegeEscalation") or sc.get("privileged")),
            readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
            additional_gids=groups, capabilities=caps,
            seccomp="Unconfined" if sc.get("privileged") else containers.seccomp(pod, spec),
            memory_limit=limits.memory, cpu_quota=limits.cpu_quota,
            cpu_period=limits.cpu_period, cpu_shares=limits.cpu_shares,
            stop_signal=image_config.get("StopSignal") or "SIGTERM",
            labels={LABEL_UID: worker.uid, LABEL_NAME: m["name"],
                    LABEL_NAMESPACE: m.get("namespace", ""), LABEL_CONTAINER: rec.name,
                    LABEL_ATTEMPT: str(rec.attempt)},
            annotations={"io.podhost.image-id": rec.image_id})

    def record_images_in_use(self) -> None:
        """Tell `podhost images rm|prune` which images the node's containers (running or
        exited, not yet removed) use: <images root>/in-use.json, rewritten when it changes."""
        images = {rec.image_id for _, rec in self.by_container.values() if rec.image_id}
        if images != self.images_in_use:
            with contextlib.suppress(OSError):
                write_in_use(self.images.root, images)
                self.images_in_use = images

    async def remove_container(self, cid: str, keep_exit: bool = False) -> None:
        with contextlib.suppress(ContainerRuntimeError, OSError):
            await self.runtime.delete(cid)
        with contextlib.suppress(Exception):
            snapshots.remove_rootfs(self.overlay_dir(cid))
            self.overlay_dir(cid).rmdir()
        if self.by_container.pop(cid, None) is not None:
            self.record_images_in_use()
        if not keep_exit:
            self.seen_exits.discard(cid)

    async def stop_all(self, worker: PodWorker, grace: float) -> None:
        """App containers (and regular init containers) at once, then sidecars in reverse."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        stops = [self.kill_container(worker, rec, grace)
                 for rec in [*worker.inits(), *worker.apps()]
                 if not rec.sidecar and rec.running and rec.id]
        if stops:
            await asyncio.gather(*stops)
        await self.stop_sidecars(worker, max(0.0, deadline - loop.time()) if grace else 0.0)
        for rec in worker.records.values():
            if rec.id and rec.exit_code is None:
                self._record_exit(worker, rec)

    async def stop_sidecars(self, worker: PodWorker, grace: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for rec in reversed([r for r in worker.inits() if r.sidecar]):
            if rec.running and rec.id:
                left = max(0.0, deadline - loop.time()) if grace else 0.0
                await self.kill_container(worker, rec, max(left, min(grace, 2.0)))

    async def kill_container(self, worker: PodWorker, rec: ContainerRecord, grace: float,
                             reason: str = "", run_pre_stop: bool = True) -> None:
        """preStop hook, then the stop signal, then SIGKILL once the grace period is over."""
        cid = rec.id
        if cid is None or not rec.running:
            return
        worker.stop_probes(rec.name)
        spec = worker.container_spec(rec.name)
        field_path = container_field_path(rec.name, rec.init)
        if not reason:
            self.recorder.normal(worker.pod, "Killing", f"Stopping container {rec.name}",
                                 field_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        hook = (spec.get("lifecycle") or {}).get("preStop")
        if hook and run_pre_stop and grace > 0:
            error = await self.run_hook(worker, rec, spec, "PreStop", hook, grace)
            if error is not None:
                self.recorder.warning(worker.pod, "FailedPreStopHook", error, field_path)
        left = max(0.0, deadline - loop.time()) if grace > 0 else 0.0
        if grace > 0:
            left = max(left, 2.0)  # kubelet's minimum after a preStop hook
        signal = "SIGTERM"
        with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
            signal = self.runtime.metadata(cid).get("stop_signal") or signal
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.stop(cid, left, signal)
        if rec.id == cid and rec.exit_code is None:
            self._record_exit(worker, rec)

    def _record_exit(self, worker: PodWorker, rec: ContainerRecord) -> None:
        assert rec.id is not None
        code = self.runtime.exited().get(rec.id)
        self.seen_exits.add(rec.id)
        message = self.termination_message(worker, rec, code if code is not None else 137)
        oom = False
        with contextlib.suppress(ContainerRuntimeError, OSError, ValueError):
            oom = (self.runtime.bundle_dir(rec.id) / "oom").exists()
        worker.on_exit(rec, code if code is not None else 137, oom, message)

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
        await self.remove_sandbox(uid)
        shutil.rmtree(pod_dir, ignore_errors=True)
        if pod is not None:
            shutil.rmtree(self.log_dir(pod), ignore_errors=True)

    async def cleanup_terminal(self, worker: PodWorker) -> None:
        """A finished Pod keeps its record and logs but releases volumes and the sandbox (K1)."""
        volumes.tear_down_pod(self.pod_dir(worker.uid))
        if worker.sandbox_ready:
            await self.remove_sandbox(worker.uid)
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
                worker.pod_ip = self.pod_ip(uid) if worker.sandbox_ready else None
                self.workers[uid] = worker
            await self.adopt(worker, cid, labels)
        await self.remove_strays(set(by_uid))
        self.record_images_in_use()
        with contextlib.suppress(NetworkError):
            self.sync_host_ports()
        for worker in self.workers.values():
            worker.restore(by_uid[worker.uid])
            worker.task = asyncio.ensure_future(worker.run())
        self.resync()  # Pods with nothing running (created, or deleted, while the node was down)

    async def remove_strays(self, known: set[str]) -> None:
        """What a crash may leave of Pods that are gone: half-made bundles and root
        filesystems, Pod directories (volumes, sandbox) and log directories."""
        adopted = {cid for cid, _ in self.by_container.items()}
        for cid in self.runtime.list():
            if cid not in adopted:
                await self.remove_container(cid)
        overlays = self.root / "overlay"
        if overlays.is_dir():
            for entry in overlays.iterdir():
                if entry.name not in adopted:
                    await self.remove_container(entry.name)
        pods_root = self.root / "pods"
        if pods_root.is_dir():
            for entry in pods_root.iterdir():
                if entry.name not in known:
                    await self.cleanup_dirs(entry.name, None)
        if self.network is not None:
            self.network.release_unknown(known)
        logs_root = self.root / "logs"
        if logs_root.is_dir():
            for entry in logs_root.iterdir():
                if entry.name.rsplit("_", 1)[-1] not in known:
                    shutil.rmtree(entry, ignore_errors=True)

    async def adopt(self, worker: PodWorker, cid: str, labels: dict[str, str]) -> None:
        rec = worker.records.get(labels.get(LABEL_CONTAINER, ""))
        if rec is None:
            await self.remove_container(cid)
            return
        attempt = int(labels.get(LABEL_ATTEMPT, "0"))
        if rec.id is not None and rec.attempt >= attempt:
            await self.remove_container(cid)
            return
        try:
            state = await self.runtime.state(cid)
        except ContainerRuntimeError:  # its bundle went meanwhile
            await self.remove_container(cid)
            return
        if state.started_at is None and state.exit_code is None and (
                state.status == "unknown" or
                (state.status == "created" and not self.runtime.conmon_alive(cid))):
            # a create the killed node never finished (runc never made it, or conmon is gone
            # and nobody would log it or record its exit): it never ran, so it goes, and the
            # worker creates the same attempt again (no restart counted, no exit recorded)
            await self.remove_container(cid)
            return
        if state.status == "created" and state.exit_code is None:
            try:
                await self.runtime.start(cid)
            except ContainerRuntimeError:
                await self.remove_container(cid)
                return
        if rec.id is not None:
            await self.remove_container(rec.id)
        rec.id, rec.attempt = cid, attempt
        rec.started_at = meta.rfc3339(_from_ts(state.started_at)) if state.started_at else \
            meta.rfc3339()
        rec.waiting_reason = ""
        rec.image_id = (self.runtime.metadata(cid).get("annotations") or {}).get(
            "io.podhost.image-id", "")
        self.by_container[cid] = (worker, rec)
        self.record_images_in_use()
        if state.status in ("running", "created") and state.exit_code is None:
            rec.ready = True
        else:
            code = state.exit_code if state.exit_code is not None else 137
            self.seen_exits.add(cid)
            worker.on_exit(rec, code, state.oom_killed, "")
            if state.finished_at:
                rec.finished_at = meta.rfc3339(_from_ts(state.finished_at))

    # -- NodeBackend: exec and logs -------------------------------------------------------
    async def _find(self, namespace: str, name: str) -> PodWorker:
        """The Pod's worker, once containers that outlived a restart have been adopted."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.recovered.wait(), RECOVERY_WAIT)
        for worker in self.workers.values():
            m = worker.pod["metadata"]
            if m["name"] == name and m.get("namespace") == namespace:
                return worker
        raise errors.NotFoundError.of("pods", name)

    async def exec(self, namespace: str, name: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> ExecProcess:  # NodeBackend
        worker = await self._find(namespace, name)
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

    async def attach(self, namespace: str, name: str, container: str, *, stdin: bool,
                     tty: bool) -> attaching.AttachProcess:  # NodeBackend
        return attaching.attach(self.runtime, await self._find(namespace, name), container,
                                stdin=stdin, tty=tty)

    async def logs(self, namespace: str, name: str, options: LogOptions) -> AsyncIterator[bytes]:
        worker = await self._find(namespace, name)
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
            attempt = rec.attempt if rec.terminated else rec.attempt - 1
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

    async def metrics_text(self) -> str:
        """`/metrics`: each emptyDir's usage and limit, and the Pods the node runs."""
        pods = [(self.pod_dir(w.uid), w.pod) for w in list(self.workers.values())]
        text = await asyncio.to_thread(eviction.metrics_text, pods)
        return text + ("# HELP podhost_running_pods Pods the node has workers for.\n"
                       "# TYPE podhost_running_pods gauge\n"
                       f"podhost_running_pods {len(pods)}\n")

    # -- local storage eviction: emptyDir sizeLimit (volumes.eviction) ---------------------
    async def check_evictions(self, period: float = 5.0) -> None:
        """Every `period` s, evict each Pod whose emptyDir exceeds its sizeLimit, and bring its
        configMap/secret/downwardAPI volumes up to date."""
        while True:
            await asyncio.sleep(period)
            for worker in list(self.workers.values()):
                try:
                    await self.evict_if_over_limit(worker)
                    if worker.sandbox_ready and not worker.terminated:
                        volumes.refresh(self.pod_dir(worker.uid), worker.pod, self.store)
                except Exception:
                    log.exception("eviction check of pod %s failed", worker.key)

    async def evict_if_over_limit(self, worker: PodWorker) -> None:
        phase = (worker.pod.get("status") or {}).get("phase")
        if worker.terminated or worker.terminating() or phase in ("Succeeded", "Failed"):
            return
        message = await asyncio.to_thread(eviction.check_pod, self.pod_dir(worker.uid),
                                          worker.pod)
        if message is not None:
            await self.evict(worker, message)

    async def evict(self, worker: PodWorker, message: str) -> None:
        """evictPod: one Warning event, status Failed/Evicted, containers stopped (grace 1 s)."""
        self.recorder.warning(worker.pod, eviction.REASON, message)
        status = {**(worker.pod.get("status") or {}), "phase": "Failed",
                  "reason": eviction.REASON, "message": message}
        worker.pod = self.write_status(worker.pod, status)
        running = [rec for rec in worker.records.values() if rec.running and rec.id]
        for rec in running:
            self.by_container.pop(rec.id or "", None)  # exits are recorded below, not polled
        await asyncio.gather(*(self._stop(rec, worker.container_spec(rec.name), 1.0)
                               for rec in running))
        for rec in running:
            code = self.runtime.exited().get(rec.id or "")
            worker.on_exit(rec, code if code is not None else 137, False, "")
        worker.publish_status()


    # -- NodeBackend: port-forward (apiserver issue 7) ------------------------------------
    async def port_forward(self, namespace: str, name: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to 127.0.0.1:port inside the Pod's network namespace, as CRI-O does."""
        worker = await self._find(namespace, name)
        netns = self.pod_dir(worker.uid) / "ns" / "net"
        sock = await asyncio.to_thread(probes.socket_in_netns, netns, socket.AF_INET)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port)), 10)
        except OSError as e:  # asyncio's text names the address; kubelet's is the errno's
            sock.close()
            raise OSError(e.errno, os.strerror(e.errno)) if e.errno else e from None
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    # -- NodeBackend: metrics.k8s.io (node/stats.py) ---------------------------------------
    async def usage(self) -> Any:  # NodeBackend: apiserver.backend.NodeUsage
        from podhost.runtime.spec import cgroups_path
        pods = {(w.pod["metadata"].get("namespace", ""), w.pod["metadata"]["name"]):
                {rec.name: cgroups_path(ContainerConfig.cgroup_parent, rec.id)
                 for rec in w.records.values() if rec.running and rec.id}
                for w in self.workers.values()}
        return await self.sampler.usage(pods)


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


def _held_by_finalizers(pod: Obj) -> bool:
    """Deleted with grace period 0 but kept by finalizers: nothing left for the node to do."""
    m = pod["metadata"]
    return bool(m.get("deletionTimestamp") and m.get("finalizers")) and \
        m.get("deletionGracePeriodSeconds") == 0


def _node_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


async def _read_all(read: Any) -> bytes:
    chunks = []
    while len(b"".join(chunks)) < probes.MAX_OUTPUT * 2:
        chunk = await read()
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


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
