"""Runtime: containers as OCI bundles run by runc under conmon (create, start, stop, kill, delete,
state, list, exited), plus `runc exec` sessions (exec.py).

State lives under one directory, so that a restarted podhost can re-adopt what is running:

    <state_dir>/containers/<id>/   the bundle: config.json, podhost.json (name, labels,
                                   annotations, log path, creation time), pidfile, conmon.pid,
                                   conmon.log, `started` (mtime = start time), `oom` (by conmon)
    <state_dir>/exits/<id>         exit code, written by conmon when the container ends
    <state_dir>/runc/              runc's own state (`runc --root`), private to podhost
    <state_dir>/sockets/           conmon's attach-socket directory
    <state_dir>/exec/<n>/          scratch files of running exec sessions (pid file, runc log)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podhost.runtime.conmon import (
    CONTAINER_PIDFILE,
    AttachConnection,
    conmon_argv,
    conmon_pid,
    is_alive,
    kill_conmon,
    launch_conmon,
    wait_conmon_exit,
    write_ctl,
)
from podhost.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from podhost.runtime.exec import ExecLauncher, ExecSession
from podhost.runtime.runccli import read_int, run_runc, runc_error_message, runc_state
from podhost.runtime.spec import NOFILE_LIMIT, build_oci_spec, capabilities_from_mask
from podhost.runtime.types import ID_PATTERN, ContainerConfig, ContainerState

# ExecSession (exec.py) and runc_error_message (runccli.py) are also imported from here.

RUNC = "/usr/sbin/runc"
CONMON = "/usr/bin/conmon"
METADATA = "podhost.json"
STARTED_MARKER = "started"
OOM_MARKER = "oom"

HostFacts = tuple[int, tuple[str, ...], str]  # RLIMIT_NOFILE limit, capabilities, architecture


# ---------------------------------------------------------------- host facts


def host_nofile_limit() -> int:
    """This process's RLIMIT_NOFILE hard limit: the most a container gets without
    CAP_SYS_RESOURCE."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return NOFILE_LIMIT if hard == resource.RLIM_INFINITY else hard


def host_capabilities() -> tuple[str, ...]:
    """Capabilities in this process's bounding set (all a privileged container can get)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return capabilities_from_mask(int(line.split()[1], 16))
    return ()


def host_facts() -> HostFacts:
    """What every container's spec depends on from the host: the open-files limit, the
    capabilities available, the machine architecture."""
    return host_nofile_limit(), host_capabilities(), os.uname().machine


# ---------------------------------------------------------------- small helpers


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644))


def _signal_arg(sig: str | int) -> str:
    return str(int(sig)) if isinstance(sig, int) else sig


def write_bundle(cfg: ContainerConfig, bundle: Path, facts: HostFacts) -> None:
    """Write the bundle's config.json (the OCI spec) and podhost.json (podhost's metadata)."""
    nofile, caps, arch = facts
    spec = build_oci_spec(cfg, nofile_limit=nofile, available_capabilities=caps, arch=arch)
    (bundle / "config.json").write_text(json.dumps(spec, indent=1))
    metadata = {
        "id": cfg.id, "name": cfg.name, "labels": cfg.labels, "annotations": cfg.annotations,
        "log_path": str(cfg.log_path), "stop_signal": cfg.stop_signal, "tty": cfg.tty,
        "stdin": cfg.stdin, "created_at": time.time(),
    }
    (bundle / METADATA).write_text(json.dumps(metadata, indent=1))


# ---------------------------------------------------------------- runtime


class Runtime:
    """Containers under `state_dir`, created by conmon + runc, with podhost-private runc state."""

    def __init__(self, state_dir: Path, runc: str = RUNC, conmon: str = CONMON, *,
                 create_timeout: float = 30.0, exec_start_timeout: float = 30.0,
                 conmon_log_level: str = "info") -> None:
        self.state_dir = Path(state_dir)
        self.runc = runc
        self.conmon = conmon
        self.containers_dir = self.state_dir / "containers"
        self.exits_dir = self.state_dir / "exits"
        self.runc_root = self.state_dir / "runc"
        self.sockets_dir = self.state_dir / "sockets"
        self.exec_dir = self.state_dir / "exec"
        self.create_timeout = create_timeout
        self.exec_start_timeout = exec_start_timeout
        self.conmon_log_level = conmon_log_level
        self._exit_cache: dict[str, tuple[int, int]] = {}
        self._exec_ids = itertools.count(1)
        self._host_facts: HostFacts | None = None

    # ------------------------------------------------------------ paths and small reads

    def bundle_dir(self, container_id: str) -> Path:
        """The container's bundle directory (validates the id)."""
        if not ID_PATTERN.match(container_id):
            raise ValueError(f"invalid container id {container_id!r}")
        return self.containers_dir / container_id

    def exit_file(self, container_id: str) -> Path:
        return self.exits_dir / container_id

    def _require(self, container_id: str) -> Path:
        bundle = self.bundle_dir(container_id)
        if not bundle.is_dir():
            raise ContainerNotFoundError(container_id)
        return bundle

    def pid(self, container_id: str) -> int | None:
        """Host pid of the container's init process (None if not created or not known)."""
        return read_int(self.bundle_dir(container_id) / CONTAINER_PIDFILE)

    def metadata(self, container_id: str) -> dict[str, Any]:
        """podhost.json of the container: name, labels, annotations, log_path, created_at…"""
        path = self._require(container_id) / METADATA
        try:
            metadata: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise ContainerNotFoundError(container_id) from None
        return metadata

    def list(self) -> list[str]:
        """Ids of the containers whose bundles are on disk."""
        try:
            return sorted(e.name for e in os.scandir(self.containers_dir) if e.is_dir())
        except FileNotFoundError:
            return []

    def exited(self) -> dict[str, int]:
        """{id: exit code} of every container conmon has written an exit file for.

        One scandir (plus an fstatat per entry) per call, no subprocess: contents are read once
        per (name, inode, mtime) and cached, since conmon writes each exit file once, atomically
        (temp file + rename; names with a dot are its temp files and are skipped).
        """
        try:
            entries = os.scandir(self.exits_dir)
        except FileNotFoundError:
            self._exit_cache.clear()
            return {}
        result: dict[str, int] = {}
        with entries:
            for entry in entries:
                name = entry.name
                if "." in name:
                    continue
                try:
                    stamp = entry.stat().st_mtime_ns ^ entry.inode()
                except FileNotFoundError:
                    continue
                cached = self._exit_cache.get(name)
                if cached is not None and cached[0] == stamp:
                    result[name] = cached[1]
                    continue
                code = read_int(Path(entry.path))
                if code is not None:
                    self._exit_cache[name] = (stamp, code)
                    result[name] = code
        for gone in self._exit_cache.keys() - result.keys():
            del self._exit_cache[gone]
        return result

    # ------------------------------------------------------------ runc invocation

    async def _runc(self, *args: str) -> tuple[int, bytes, bytes]:
        return await run_runc(self.runc, self.runc_root, *args)

    async def _runc_checked(self, container_id: str, *args: str) -> bytes:
        rc, out, err = await self._runc(*args)
        if rc != 0:
            message = runc_error_message(err) or f"exit status {rc}"
            if "does not exist" in message:
                raise ContainerNotFoundError(container_id)
            raise ContainerRuntimeError(f"runc {args[0]} {container_id}: {message}")
        return out

    # ------------------------------------------------------------ lifecycle

    async def create(self, cfg: ContainerConfig) -> None:
        """Write the bundle and have conmon run `runc create`; returns once the container exists."""
        bundle = self.bundle_dir(cfg.id)
        for directory in (self.containers_dir, self.exits_dir, self.runc_root, self.sockets_dir):
            directory.mkdir(parents=True, exist_ok=True)
        try:
            bundle.mkdir()
        except FileExistsError:
            raise ContainerRuntimeError(f"container {cfg.id!r} already exists") from None
        try:
            if self._host_facts is None:
                self._host_facts = host_facts()
            write_bundle(cfg, bundle, self._host_facts)
            self.exit_file(cfg.id).unlink(missing_ok=True)
            self._exit_cache.pop(cfg.id, None)
            cfg.log_path.parent.mkdir(parents=True, exist_ok=True)
            argv = conmon_argv(
                conmon=self.conmon, runtime=self.runc, runtime_root=self.runc_root,
                container_id=cfg.id, name=cfg.name, bundle=bundle, exit_dir=self.exits_dir,
                log_path=cfg.log_path, socket_dir=self.sockets_dir, tty=cfg.tty,
                stdin=cfg.stdin, stdin_once=cfg.stdin_once, log_level=self.conmon_log_level,
                log_size_max=cfg.log_size_max)
            await launch_conmon(argv, bundle, self.create_timeout)
        except BaseException:
            await self._discard(cfg.id)
            raise

    async def start(self, container_id: str) -> None:
        """`runc start`: run the container's process."""
        bundle = self._require(container_id)
        await self._runc_checked(container_id, "start", container_id)
        _touch(bundle / STARTED_MARKER)

    def reopen_log(self, container_id: str) -> bool:
        """Have conmon reopen the container's log file (after it was renamed away for rotation),
        as CRI-O's ReopenContainerLog does: message 2 on conmon's `ctl` fifo. False if conmon
        is gone."""
        return write_ctl(self._require(container_id), "2 0 0")

    def attach(self, container_id: str) -> AttachConnection:
        """Connect to conmon's attach socket of the container: its output from now on, and its
        stdin when it was created with `stdin`. OSError when conmon has gone."""
        return AttachConnection(self._require(container_id))

    def resize(self, container_id: str, width: int, height: int) -> bool:
        """Set the terminal size of a container created with `tty` (message 1 on `ctl`)."""
        return write_ctl(self._require(container_id), f"1 {height} {width}")

    async def kill(self, container_id: str, signal: str | int = "SIGTERM",
                   all: bool = False) -> None:
        """`runc kill`: signal the container's init (or, with all, every process in it)."""
        self._require(container_id)
        args = ["kill", *(["--all"] if all else []), container_id, _signal_arg(signal)]
        await self._runc_checked(container_id, *args)

    async def wait_exit(self, container_id: str, timeout: float) -> bool:
        """Wait until the container has ended (exit file written, or its process gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.002
        gone_since: float | None = None
        while not self.exit_file(container_id).exists():
            now = loop.time()
            if not is_alive(self.pid(container_id)):
                # conmon writes the exit file right after reaping; give it a moment.
                gone_since = now if gone_since is None else gone_since
                if now - gone_since > 1.0:
                    return True
            if now >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    async def stop(self, container_id: str, timeout: float, signal: str | int = "SIGTERM",
                   kill_timeout: float = 10.0) -> None:
        """Send `signal`, wait up to `timeout` for the container to end, then SIGKILL and wait."""
        state = await self.state(container_id)
        if state.status == "stopped":
            return
        if state.status == "running":
            with contextlib.suppress(ContainerRuntimeError):
                await self.kill(container_id, signal)
            if await self.wait_exit(container_id, timeout):
                return
        with contextlib.suppress(ContainerRuntimeError):
            await self.kill(container_id, "SIGKILL")
        if not await self.wait_exit(container_id, kill_timeout):
            raise ContainerRuntimeError(f"container {container_id!r} did not exit after SIGKILL")

    async def delete(self, container_id: str) -> None:
        """`runc delete --force`, wait for conmon to go, remove the bundle. Idempotent."""
        self.bundle_dir(container_id)
        await self.settle_create(container_id)
        rc, _out, err = await self._runc("delete", "--force", container_id)
        if rc != 0 and "does not exist" not in runc_error_message(err):
            raise ContainerRuntimeError(
                f"runc delete {container_id}: {runc_error_message(err) or rc}")
        await self._discard(container_id, runc_delete=False)

    async def _discard(self, container_id: str, runc_delete: bool = True) -> None:
        """Remove everything podhost keeps for a container (after or with `runc delete`)."""
        bundle = self.bundle_dir(container_id)
        if runc_delete:
            kill_conmon(bundle)
            await self._runc("delete", "--force", container_id)
        if not await wait_conmon_exit(bundle, 2.0):
            kill_conmon(bundle)
            await wait_conmon_exit(bundle, 2.0)
        await asyncio.to_thread(shutil.rmtree, bundle, True)
        self.exit_file(container_id).unlink(missing_ok=True)
        (self.sockets_dir / container_id).unlink(missing_ok=True)
        self._exit_cache.pop(container_id, None)

    def conmon_alive(self, container_id: str) -> bool:
        """Whether the container's conmon still runs (and so logs it and records its exit)."""
        return is_alive(conmon_pid(self.bundle_dir(container_id)))

    async def settle_create(self, container_id: str) -> bool:
        """Wait while the container's conmon is still running `runc create` (runc writes the
        pid file when the container exists); True if it had to wait.

        Only a podhost restarted while a create was in flight meets this: `runc state` then
        does not know the container yet, and killing conmon half-way would leave `runc create`
        to finish a container nobody owns (a `runc init` with no conmon, no bundle)."""
        bundle = self.bundle_dir(container_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.create_timeout
        delay = 0.002
        waited = False
        while not (bundle / CONTAINER_PIDFILE).exists() and is_alive(conmon_pid(bundle)):
            if loop.time() >= deadline:
                break
            waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return waited

    async def state(self, container_id: str) -> ContainerState:
        """Status, pid, exit code and times of a container (exit file first, else `runc state`).

        "unknown" means a bundle exists but runc knows no such container and no exit file says
        how it ended.
        """
        bundle = self._require(container_id)
        created_at = _mtime(bundle / METADATA)
        started_at = _mtime(bundle / STARTED_MARKER)
        exit_code = read_int(self.exit_file(container_id))
        info: dict[str, Any] | None = None
        if exit_code is None:
            info = await runc_state(self.runc, self.runc_root, container_id)
        if exit_code is None and info is None and await self.settle_create(container_id):
            # a create was still in flight (podhost restarted meanwhile): ask again
            exit_code = read_int(self.exit_file(container_id))
            if exit_code is None:
                info = await runc_state(self.runc, self.runc_root, container_id)
        if exit_code is None:
            info = info or {}
            status = info.get("status")
            if status in ("created", "running", "paused"):
                return ContainerState(
                    id=container_id, status="created" if status == "created" else "running",
                    pid=info.get("pid") or None, started_at=started_at, created_at=created_at)
            if status != "stopped":
                return ContainerState(id=container_id, status="unknown", started_at=started_at,
                                      created_at=created_at)
            await self.wait_exit(container_id, 1.0)  # conmon writes the file right after
            exit_code = read_int(self.exit_file(container_id))
        return ContainerState(
            id=container_id, status="stopped", exit_code=exit_code, started_at=started_at,
            finished_at=_mtime(self.exit_file(container_id)),
            oom_killed=(bundle / OOM_MARKER).exists(), created_at=created_at)

    # ------------------------------------------------------------ exec

    async def exec(self, container_id: str, argv: Sequence[str], *, tty: bool = False,
                   stdin: bool = False, env: Sequence[str] | None = None) -> ExecSession:
        """Start `argv` in the running container; returns once it runs.

        Raises ExecStartError (runc's message) when it could not be started, e.g. because the
        executable does not exist; the process's user, cwd, env and limits are the container's.
        """
        self._require(container_id)
        if not argv:
            raise ValueError("exec needs a command")
        scratch = self.exec_dir / f"{os.getpid()}-{next(self._exec_ids)}"
        scratch.mkdir(parents=True)
        launcher = ExecLauncher(runc=self.runc, runc_root=self.runc_root, scratch=scratch,
                                start_timeout=self.exec_start_timeout, env=env)
        return await launcher.start(container_id, argv, tty=tty, stdin=stdin)
