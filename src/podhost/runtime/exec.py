"""Exec sessions: processes started by `runc exec` in a running container.

Exec sessions run `runc exec` as podhost's child. Without a tty runc passes stdio through pipes
and exits with the process's status. With a tty, runc can only hand over the pty master through
`--console-socket` when it detaches (`-d`), so, like containerd's shim, a tiny helper that is a
child subreaper runs `runc exec -d` and reaps the process to report its exit status.

Start failures are told apart from processes that ran: runc writes `--pid-file` only once the
process started, and writes its own error to `--log` (JSON). Exit without a pid file means
ExecStartError with runc's message; runc's duplicate of it on stderr is never delivered.

Each session has a scratch directory (`<state_dir>/exec/<n>/`: the pid file and runc's log),
removed once the session has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import signal as signal_module
import socket
import struct
import sys
import termios
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podhost.runtime.conmon import set_once
from podhost.runtime.errors import ContainerRuntimeError, ExecStartError
from podhost.runtime.runccli import read_int, runc_error_message


def _exit_status(returncode: int) -> int:
    """asyncio's returncode (negative = killed by signal) as a shell-style exit status."""
    return 128 - returncode if returncode < 0 else returncode


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


@dataclass(frozen=True)
class ExecLauncher:
    """Starts one exec session: `runc exec` against podhost's runc state root, with the pid file
    and runc's log in the session's scratch directory."""

    runc: str
    runc_root: Path
    scratch: Path
    start_timeout: float
    env: Sequence[str] | None = None

    async def start(self, container_id: str, argv: Sequence[str], *, tty: bool,
                    stdin: bool) -> ExecSession:
        """Start argv in the container; returns once it runs. ExecStartError (runc's message)
        when it could not be started; the scratch directory is then removed."""
        try:
            if tty:
                return await self._start_tty(container_id, list(argv))
            return await self._start_pipes(container_id, list(argv), stdin)
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    @property
    def pidfile(self) -> Path:
        return self.scratch / "pid"

    def _runc_args(self) -> list[str]:
        args = [self.runc, "--root", str(self.runc_root), "--log", str(self.scratch / "runc.log"),
                "--log-format", "json", "exec", "--pid-file", str(self.pidfile)]
        for item in self.env or ():
            args += ["--env", item]
        return args

    def _started(self) -> bool:
        """Whether runc wrote the pid file, which it does once the process started."""
        return self.pidfile.exists()

    def _start_error(self, returncode: int, stderr: bytes = b"") -> ExecStartError:
        try:
            log = (self.scratch / "runc.log").read_bytes()
        except OSError:
            log = b""
        message = (runc_error_message(log) or runc_error_message(stderr)
                   or f"runc exec failed with exit status {returncode}")
        shutil.rmtree(self.scratch, ignore_errors=True)
        return ExecStartError(message, returncode)

    async def _start_pipes(self, container_id: str, argv: list[str],
                           stdin: bool) -> ExecSession:
        proc = await asyncio.create_subprocess_exec(
            *self._runc_args(), container_id, *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            started = await self._wait_pidfile(proc)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.communicate()
            raise
        if not started:
            _out, err = await proc.communicate()
            assert proc.returncode is not None
            raise self._start_error(proc.returncode, err)
        pid = read_int(self.pidfile)
        assert pid is not None
        return PipeExecSession(proc, pid, self.scratch)

    async def _wait_pidfile(self, proc: asyncio.subprocess.Process) -> bool:
        """True once runc wrote the pid file (process started), False if runc exited first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        waiter = asyncio.ensure_future(proc.wait())
        delay = 0.0005
        try:
            while not self._started():
                if waiter.done():
                    return self._started()
                if loop.time() >= deadline:
                    raise ExecStartError(f"runc exec did not start within {self.start_timeout:g}s")
                await asyncio.wait({waiter}, timeout=delay)
                delay = min(delay * 2, 0.002)
            return True
        finally:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)

    async def _start_tty(self, container_id: str, argv: list[str]) -> ExecSession:
        name = f"podhost-exec-{os.getpid()}-{secrets.token_hex(8)}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            listener.bind("\0" + name)  # abstract: no path, nothing to clean up
            listener.listen(1)
            listener.setblocking(False)
            runc_args = self._runc_args() + [
                "-d", "-t", "--console-socket", "@" + name, container_id, *argv]
            helper = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", _SUBREAPER, str(self.pidfile), *runc_args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            try:
                return await self._attach_tty(helper, listener)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    helper.kill()
                await helper.wait()
                raise
        finally:
            listener.close()

    async def _attach_tty(self, helper: asyncio.subprocess.Process,
                          listener: socket.socket) -> ExecSession:
        assert helper.stdout is not None
        line = await asyncio.wait_for(helper.stdout.readline(), self.start_timeout)
        runc_rc = int(line.split()[1]) if line.startswith(b"runc ") else -1
        pid = read_int(self.pidfile)
        if runc_rc != 0 or pid is None:
            await helper.wait()
            raise self._start_error(runc_rc if runc_rc >= 0 else 255)
        loop = asyncio.get_running_loop()
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5.0)
        with conn:
            conn.setblocking(False)
            master = await _recv_fd(conn, 5.0)
        return PtyExecSession(helper, pid, master, self.scratch)
