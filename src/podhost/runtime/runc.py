"""Runtime: containers as OCI bundles run by runc under conmon, plus `runc exec` sessions.

State lives under one directory, so that a restarted podhost can re-adopt what is running:

    <state_dir>/containers/<id>/   the bundle: config.json, podhost.json (name, labels,
                                   annotations, log path, creation time), pidfile, conmon.pid,
                                   conmon.log, `started` (mtime = start time), `oom` (by conmon)
    <state_dir>/exits/<id>         exit code, written by conmon when the container ends
    <state_dir>/runc/              runc's own state (`runc --root`), private to podhost
    <state_dir>/sockets/           conmon's attach-socket directory
    <state_dir>/exec/<n>/          scratch files of running exec sessions (pid file, runc log)

Exec sessions run `runc exec` as podhost's child. Without a tty runc passes stdio through pipes
and exits with the process's status. With a tty, runc can only hand over the pty master through
`--console-socket` when it detaches (`-d`), so, like containerd's shim, a tiny helper that is a
child subreaper runs `runc exec -d` and reaps the process to report its exit status.

Start failures are told apart from processes that ran: runc writes `--pid-file` only once the
process started, and writes its own error to `--log` (JSON). Exit without a pid file means
ExecStartError with runc's message; runc's duplicate of it on stderr is never delivered.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import fcntl
import itertools
import json
import os
import resource
import secrets
import shutil
import signal as signal_module
import socket
import struct
import sys
import termios
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
    set_once,
    wait_conmon_exit,
    write_ctl,
)
from podhost.runtime.errors import (
    ContainerNotFoundError,
    ContainerRuntimeError,
    ExecStartError,
)
from podhost.runtime.spec import NOFILE_LIMIT, build_oci_spec, capabilities_from_mask
from podhost.runtime.types import ID_PATTERN, ContainerConfig, ContainerState

RUNC = "/usr/sbin/runc"
CONMON = "/usr/bin/conmon"
METADATA = "podhost.json"
STARTED_MARKER = "started"
OOM_MARKER = "oom"


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


# ---------------------------------------------------------------- small helpers


def runc_error_message(output: bytes) -> str:
    """The error text from runc output: JSON log lines (`--log-format json`) or plain text."""
    messages = []
    for raw in output.decode(errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            messages.append(line)
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            messages.append(str(entry.get("msg", "")))
    return messages[-1] if messages else ""


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644))


def _exit_status(returncode: int) -> int:
    """asyncio's returncode (negative = killed by signal) as a shell-style exit status."""
    return 128 - returncode if returncode < 0 else returncode


def _signal_arg(sig: str | int) -> str:
    return str(int(sig)) if isinstance(sig, int) else sig


# ---------------------------------------------------------------- exec sessions


class ExecSession:
    """A process started by `runc exec` in a running container.

    read_stdout()/read_stderr() return b"" at end of stream; with a tty, all output is on
    stdout and stderr is empty. close_stdin() closes the pipe, or with a tty sends ^D (EOT):
    a pty has no half-close, and EOT is what ends input for a program reading the terminal in
    canonical mode (a shell, cat); programs in raw mode just read the byte.
    """

    def __init__(self, pid: int, tty: bool, scratch: Path) -> None:
        self.pid = pid
        self.tty = tty
        self._scratch = scratch
        self._exit_code: int | None = None

    @property
    def exit_code(self) -> int | None:
        """The exit status once wait() has seen the process end."""
        return self._exit_code

    async def read_stdout(self, n: int = 65536) -> bytes:
        raise NotImplementedError

    async def read_stderr(self, n: int = 65536) -> bytes:
        raise NotImplementedError

    async def write_stdin(self, data: bytes) -> None:
        raise NotImplementedError

    async def close_stdin(self) -> None:
        raise NotImplementedError

    def resize(self, width: int, height: int) -> None:
        """Set the terminal size (columns, rows); a no-op without a tty."""

    async def _wait(self) -> int:
        raise NotImplementedError

    async def wait(self) -> int:
        """Wait for the process to end; its exit status (128+N when killed by signal N)."""
        if self._exit_code is None:
            self._exit_code = await self._wait()
            shutil.rmtree(self._scratch, ignore_errors=True)
        return self._exit_code

    def kill(self, sig: int = signal_module.SIGKILL) -> None:
        """Signal the process (by its host pid) unless it has already been reaped."""
        if self._exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    async def close(self) -> None:
        """End the session: SIGKILL the process if it still runs (as CRI runtimes do when the
        exec stream goes away), reap it, and release podhost's ends (pipes, pty master)."""
        self.kill(signal_module.SIGKILL)
        await self.wait()
        shutil.rmtree(self._scratch, ignore_errors=True)


class PipeExecSession(ExecSession):
    """Exec without a tty: runc's stdio pipes are the process's stdio."""

    def __init__(self, proc: asyncio.subprocess.Process, pid: int, scratch: Path) -> None:
        super().__init__(pid, False, scratch)
        self._proc = proc

    async def read_stdout(self, n: int = 65536) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        assert self._proc.stderr is not None
        return await self._proc.stderr.read(n)

    async def write_stdin(self, data: bytes) -> None:
        """Write to the process's stdin; data for a process that has gone is dropped."""
        if self._proc.stdin is None:
            raise ContainerRuntimeError("exec session was started without stdin")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._proc.stdin.wait_closed()

    async def _wait(self) -> int:
        return _exit_status(await self._proc.wait())

    def kill(self, sig: int = signal_module.SIGKILL) -> None:
        if self._proc.returncode is None:  # runc reaps the process just before it exits
            super().kill(sig)

    async def close(self) -> None:
        await self.close_stdin()
        await super().close()
        # runc has exited, so both pipes reach EOF; drain what nobody read, which also lets
        # asyncio close the subprocess transport.
        assert self._proc.stdout is not None and self._proc.stderr is not None
        await asyncio.gather(self._proc.stdout.read(), self._proc.stderr.read())


class PtyExecSession(ExecSession):
    """Exec with a tty: podhost holds the pty master received from runc over the console socket."""

    def __init__(self, helper: asyncio.subprocess.Process, pid: int, master: int,
                 scratch: Path) -> None:
        super().__init__(pid, True, scratch)
        self._helper = helper
        self._master: int | None = master
        self._exited: asyncio.Future[Any] = asyncio.ensure_future(helper.wait())
        os.set_blocking(master, False)

    async def _until(self, add: Any, remove: Any, timeout: float | None = None) -> None:
        """Wait until the master is readable/writable, the process ended, or timeout passed."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        assert self._master is not None
        add(self._master, set_once, ready)
        try:
            await asyncio.wait({ready, self._exited}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            remove(self._master)
            ready.cancel()

    async def read_stdout(self, n: int = 65536) -> bytes:
        """Terminal output; b"" once the pty is closed, or the process ended and output drained."""
        loop = asyncio.get_running_loop()
        drained = False
        while self._master is not None:
            try:
                return os.read(self._master, n)
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno == errno.EIO:  # every slave end closed
                    return b""
                raise
            if drained:
                return b""
            if self._exited.done():
                # Output the process wrote may still be in flight through the tty layer.
                await self._until(loop.add_reader, loop.remove_reader, timeout=0.1)
                drained = True
            else:
                await self._until(loop.add_reader, loop.remove_reader)
        return b""

    async def read_stderr(self, n: int = 65536) -> bytes:
        return b""

    async def write_stdin(self, data: bytes) -> None:
        """Type into the terminal; data for a terminal that has gone is dropped."""
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and self._master is not None and not self._exited.done():
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                await self._until(loop.add_writer, loop.remove_writer)
            except OSError as e:
                if e.errno == errno.EIO:
                    return
                raise

    async def close_stdin(self) -> None:
        await self.write_stdin(b"\x04")

    def resize(self, width: int, height: int) -> None:
        if self._master is not None:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def _wait(self) -> int:
        return _exit_status(await self._exited)

    def kill(self, sig: int = signal_module.SIGKILL) -> None:
        if not self._exited.done():  # once the helper reaped it, the pid may be reused
            super().kill(sig)

    async def close(self) -> None:
        await super().close()
        if self._master is not None:
            os.close(self._master)
            self._master = None


# A child subreaper that runs `runc exec -d ...`, reports runc's status on stdout ("runc N"),
# then reaps the exec'd process (reparented to it when runc exits) and exits with its status.
_SUBREAPER = r"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    os._exit(125)
pidfile, argv = sys.argv[1], sys.argv[2:]
child = os.fork()
if child == 0:
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0); os.dup2(null, 1)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
rc = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
os.write(1, b"runc %d\n" % rc)
if rc != 0:
    os._exit(rc if rc > 0 else 128 - rc)
pid = int(open(pidfile).read())
while True:
    try:
        reaped, status = os.waitpid(-1, 0)
    except ChildProcessError:
        os._exit(255)
    if reaped == pid:
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
"""


async def _recv_fd(conn: socket.socket, timeout: float) -> int:
    """Receive one file descriptor sent with SCM_RIGHTS on a non-blocking socket."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(conn.fileno(), set_once, ready)
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
            finally:
                loop.remove_reader(conn.fileno())
            continue
        if not fds:
            raise ContainerRuntimeError("runc sent no terminal over the console socket")
        for extra in fds[1:]:
            os.close(extra)
        return fds[0]


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
        self._host_facts: tuple[int, tuple[str, ...], str] | None = None

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
        return _read_int(self.bundle_dir(container_id) / CONTAINER_PIDFILE)

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
                code = _read_int(Path(entry.path))
                if code is not None:
                    self._exit_cache[name] = (stamp, code)
                    result[name] = code
        for gone in self._exit_cache.keys() - result.keys():
            del self._exit_cache[gone]
        return result

    # ------------------------------------------------------------ runc invocation

    async def _runc(self, *args: str) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            self.runc, "--root", str(self.runc_root), "--log-format", "json", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out, err

    async def _runc_checked(self, container_id: str, *args: str) -> bytes:
        rc, out, err = await self._runc(*args)
        if rc != 0:
            message = runc_error_message(err) or f"exit status {rc}"
            if "does not exist" in message:
                raise ContainerNotFoundError(container_id)
            raise ContainerRuntimeError(f"runc {args[0]} {container_id}: {message}")
        return out

    def _facts(self) -> tuple[int, tuple[str, ...], str]:
        if self._host_facts is None:
            self._host_facts = (host_nofile_limit(), host_capabilities(), os.uname().machine)
        return self._host_facts

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
            self._write_bundle(cfg, bundle)
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

    def _write_bundle(self, cfg: ContainerConfig, bundle: Path) -> None:
        nofile, caps, arch = self._facts()
        spec = build_oci_spec(cfg, nofile_limit=nofile, available_capabilities=caps, arch=arch)
        (bundle / "config.json").write_text(json.dumps(spec, indent=1))
        metadata = {
            "id": cfg.id, "name": cfg.name, "labels": cfg.labels, "annotations": cfg.annotations,
            "log_path": str(cfg.log_path), "stop_signal": cfg.stop_signal, "tty": cfg.tty,
            "stdin": cfg.stdin, "created_at": time.time(),
        }
        (bundle / METADATA).write_text(json.dumps(metadata, indent=1))
        self.exit_file(cfg.id).unlink(missing_ok=True)
        self._exit_cache.pop(cfg.id, None)
        cfg.log_path.parent.mkdir(parents=True, exist_ok=True)

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

    async def _runc_state(self, container_id: str) -> dict[str, Any] | None:
        """`runc state` as a dict, or None when runc does not know the container."""
        rc, out, _err = await self._runc("state", container_id)
        if rc != 0:
            return None
        try:
            info: dict[str, Any] = json.loads(out)
        except ValueError:
            return None
        return info

    async def state(self, container_id: str) -> ContainerState:
        """Status, pid, exit code and times of a container (exit file first, else `runc state`).

        "unknown" means a bundle exists but runc knows no such container and no exit file says
        how it ended.
        """
        bundle = self._require(container_id)
        created_at = _mtime(bundle / METADATA)
        started_at = _mtime(bundle / STARTED_MARKER)
        exit_code = _read_int(self.exit_file(container_id))
        info = None if exit_code is not None else await self._runc_state(container_id)
        if exit_code is None and info is None and await self.settle_create(container_id):
            # a create was still in flight (podhost restarted meanwhile): ask again
            exit_code = _read_int(self.exit_file(container_id))
            info = None if exit_code is not None else await self._runc_state(container_id)
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
            exit_code = _read_int(self.exit_file(container_id))
        return ContainerState(
            id=container_id, status="stopped", exit_code=exit_code, started_at=started_at,
            finished_at=_mtime(self.exit_file(container_id)),
            oom_killed=(bundle / OOM_MARKER).exists(), created_at=created_at)

    # ------------------------------------------------------------ exec

    def _exec_scratch(self) -> Path:
        scratch = self.exec_dir / f"{os.getpid()}-{next(self._exec_ids)}"
        scratch.mkdir(parents=True)
        return scratch

    def _exec_args(self, scratch: Path, env: Sequence[str] | None) -> builtins.list[str]:
        args = [self.runc, "--root", str(self.runc_root), "--log", str(scratch / "runc.log"),
                "--log-format", "json", "exec", "--pid-file", str(scratch / "pid")]
        for item in env or ():
            args += ["--env", item]
        return args

    @staticmethod
    def _start_error(scratch: Path, returncode: int, stderr: bytes = b"") -> ExecStartError:
        try:
            log = (scratch / "runc.log").read_bytes()
        except OSError:
            log = b""
        message = (runc_error_message(log) or runc_error_message(stderr)
                   or f"runc exec failed with exit status {returncode}")
        shutil.rmtree(scratch, ignore_errors=True)
        return ExecStartError(message, returncode)

    async def exec(self, container_id: str, argv: Sequence[str], *, tty: bool = False,
                   stdin: bool = False, env: Sequence[str] | None = None) -> ExecSession:
        """Start `argv` in the running container; returns once it runs.

        Raises ExecStartError (runc's message) when it could not be started, e.g. because the
        executable does not exist; the process's user, cwd, env and limits are the container's.
        """
        self._require(container_id)
        if not argv:
            raise ValueError("exec needs a command")
        scratch = self._exec_scratch()
        try:
            if tty:
                return await self._exec_tty(container_id, list(argv), scratch, env)
            return await self._exec_pipes(container_id, list(argv), scratch, stdin, env)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    async def _exec_pipes(self, container_id: str, argv: builtins.list[str], scratch: Path,
                          stdin: bool, env: Sequence[str] | None) -> ExecSession:
        pidfile = scratch / "pid"
        proc = await asyncio.create_subprocess_exec(
            *self._exec_args(scratch, env), container_id, *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            started = await self._wait_pidfile(proc, pidfile)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.communicate()
            raise
        if not started:
            _out, err = await proc.communicate()
            assert proc.returncode is not None
            raise self._start_error(scratch, proc.returncode, err)
        pid = _read_int(pidfile)
        assert pid is not None
        return PipeExecSession(proc, pid, scratch)

    async def _wait_pidfile(self, proc: asyncio.subprocess.Process, pidfile: Path) -> bool:
        """True once runc wrote the pid file (process started), False if runc exited first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.exec_start_timeout
        waiter = asyncio.ensure_future(proc.wait())
        delay = 0.0005
        try:
            while not pidfile.exists():
                if waiter.done():
                    return pidfile.exists()
                if loop.time() >= deadline:
                    raise ExecStartError(
                        f"runc exec did not start within {self.exec_start_timeout:g}s")
                await asyncio.wait({waiter}, timeout=delay)
                delay = min(delay * 2, 0.002)
            return True
        finally:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)

    async def _exec_tty(self, container_id: str, argv: builtins.list[str], scratch: Path,
                        env: Sequence[str] | None) -> ExecSession:
        name = f"podhost-exec-{os.getpid()}-{secrets.token_hex(8)}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            listener.bind("\0" + name)  # abstract: no path, nothing to clean up
            listener.listen(1)
            listener.setblocking(False)
            runc_args = self._exec_args(scratch, env) + [
                "-d", "-t", "--console-socket", "@" + name, container_id, *argv]
            helper = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", _SUBREAPER, str(scratch / "pid"), *runc_args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            try:
                return await self._attach_tty(helper, listener, scratch)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    helper.kill()
                await helper.wait()
                raise
        finally:
            listener.close()

    async def _attach_tty(self, helper: asyncio.subprocess.Process, listener: socket.socket,
                          scratch: Path) -> ExecSession:
        assert helper.stdout is not None
        line = await asyncio.wait_for(helper.stdout.readline(), self.exec_start_timeout)
        runc_rc = int(line.split()[1]) if line.startswith(b"runc ") else -1
        pid = _read_int(scratch / "pid")
        if runc_rc != 0 or pid is None:
            await helper.wait()
            raise self._start_error(scratch, runc_rc if runc_rc >= 0 else 255)
        loop = asyncio.get_running_loop()
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5.0)
        with conn:
            conn.setblocking(False)
            master = await _recv_fd(conn, 5.0)
        return PtyExecSession(helper, pid, master, scratch)
