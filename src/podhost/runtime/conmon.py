"""conmon: the per-container monitor that runs `runc create`, holds the container's stdio, writes
the CRI log file and the exit file, and outlives podhost.

`conmon_argv` is the pure command line. `launch_conmon` starts it the way CRI-O and podman do
(`internal/oci/runtime_oci.go`): conmon gets the write end of a sync pipe as an inherited fd named
by `_OCI_SYNCPIPE`; with `--api-version 1` it forks into the background at once, runs
`runc create`, and reports `{"data": <pid>}` on the pipe when the container exists, or
`{"data": -1, "message": "..."}` when creation failed. Only then may `runc start` run.

conmon starts in its own session (`start_new_session=True`) so that podhost's process group
dying does not take the containers with it. Its stdout/stderr go to `<bundle>/conmon.log`.

Attach (`src/conn_sock.c`, `src/ctr_stdio.c`): conmon listens on `<bundle>/attach`, a unix
SOCK_SEQPACKET socket (bound through a `<socket-dir>/<id>` symlink to the bundle because of
sun_path's 108 bytes; podhost connects through `/proc/self/fd/N` of an O_PATH fd instead, as
podman does). Every output chunk is one packet: a stream byte (2 stdout, 3 stderr) and the data.
Packets sent to conmon go to the container's stdin (with `-i`). When a client's connection ends
(EOF or hang-up), conmon closes the container's stdin unless `--leave-stdin-open` was given: that
flag is what `stdinOnce: false` means. With `-t`, conmon receives the pty master from runc over
its console socket and the terminal size is set through the `ctl` fifo (`1 <height> <width>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from podhost.runtime.errors import ConmonStartError

CONMON_PIDFILE = "conmon.pid"
CONTAINER_PIDFILE = "pidfile"
CONMON_LOG = "conmon.log"
ATTACH_SOCKET = "attach"
CTL_FIFO = "ctl"
STDOUT_PIPE, STDERR_PIPE = 2, 3  # conmon's stream byte in front of every attach packet
ATTACH_PACKET_MAX = 8192 + 1  # conmon's STDIO_BUF_SIZE plus the stream byte
STDIN_CHUNK = 8192  # conmon reads one packet of stdin at a time into a 32 KiB buffer


def conmon_argv(*, conmon: str, runtime: str, runtime_root: Path, container_id: str, name: str,
                bundle: Path, exit_dir: Path, log_path: Path, socket_dir: Path,
                tty: bool = False, stdin: bool = False, stdin_once: bool = False,
                log_level: str = "info", extra_runtime_args: Sequence[str] = (),
                log_size_max: int | None = None) -> list[str]:
    """The conmon command line creating container `container_id` from `bundle`.

    The runtime's state lives under `runtime_root` (passed as `--runtime-arg --root=...`), so
    podhost's runc containers never mix with other users of runc on the host.
    """
    argv = [
        conmon,
        "--api-version", "1",
        "-c", container_id,
        "-u", container_id,
        "-n", name,
        "-r", runtime,
        "-b", str(bundle),
        "-p", str(bundle / CONTAINER_PIDFILE),
        "-P", str(bundle / CONMON_PIDFILE),
        "--exit-dir", str(exit_dir),
        "-l", f"k8s-file:{log_path}",
        "--socket-dir-path", str(socket_dir),
        "--log-level", log_level,
        "--runtime-arg", f"--root={runtime_root}",
    ]
    if log_size_max:
        argv += ["--log-size-max", str(log_size_max)]
    for arg in extra_runtime_args:
        argv += ["--runtime-arg", arg]
    if tty:
        argv.append("-t")
    if stdin:
        argv.append("-i")
        if not stdin_once:
            argv.append("--leave-stdin-open")
    return argv


def parse_sync_message(line: bytes) -> int:
    """The container pid from conmon's sync-pipe message, or ConmonStartError with its message."""
    try:
        message = json.loads(line)
        pid = int(message["data"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConmonStartError(f"unexpected message from conmon: {line!r}") from e
    if pid <= 0:
        text = str(message.get("message") or f"conmon reported {pid}").strip()
        raise ConmonStartError(f"container create failed: {text}", text)
    return pid


def read_conmon_log(bundle: Path) -> str:
    """What conmon printed (errors of its own before or after daemonizing), if anything."""
    try:
        return (bundle / CONMON_LOG).read_text(errors="replace").strip()
    except OSError:
        return ""


async def _read_line(fd: int, timeout: float) -> bytes:
    """One line from a pipe fd (closing it), b'' at EOF; TimeoutError after timeout seconds."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    try:
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        transport.close()


async def launch_conmon(argv: Sequence[str], bundle: Path, timeout: float = 30.0) -> int:
    """Run conmon (which runs `runc create`) and return the container's pid once it exists.

    Raises ConmonStartError when conmon or runc fails, or nothing is reported within `timeout`;
    the caller then cleans up (`kill_conmon`, `runc delete --force`).
    """
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    env = dict(os.environ, _OCI_SYNCPIPE=str(write_fd))
    try:
        log = os.open(bundle / CONMON_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                      0o666)
        try:
            # conmon also gets (and keeps) a copy of the read end: its report then never meets
            # a pipe without readers. Without it, podhost dying (kill -9) between launching
            # conmon and reading the report left conmon killed by SIGPIPE (conmon 2.1.x exits
            # on a failed sync-pipe write) and a container created but monitored by nobody:
            # no log, no exit file, adopted as "created" and started without conmon.
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(write_fd, read_fd), env=env, start_new_session=True, cwd=bundle)
        finally:
            os.close(log)
    except OSError as e:
        os.close(read_fd)
        raise ConmonStartError(f"cannot run conmon: {e}") from e
    finally:
        os.close(write_fd)
    try:
        line = await _read_line(read_fd, timeout)
    except TimeoutError:
        raise ConmonStartError(f"conmon reported nothing within {timeout:g}s",
                               read_conmon_log(bundle)) from None
    finally:
        await proc.wait()
    if not line:
        log_text = read_conmon_log(bundle)
        raise ConmonStartError(f"conmon exited ({proc.returncode}) without creating the "
                               f"container: {log_text}", log_text)
    return parse_sync_message(line)


def conmon_pid(bundle: Path) -> int | None:
    """conmon's pid from its pidfile, if it is still that conmon process."""
    try:
        pid = int((bundle / CONMON_PIDFILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"conmon" in cmdline and os.fsencode(str(bundle)) in cmdline else None


def kill_conmon(bundle: Path) -> None:
    """SIGKILL the bundle's conmon, if it still runs."""
    pid = conmon_pid(bundle)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def wait_conmon_exit(bundle: Path, timeout: float) -> bool:
    """Wait until the bundle's conmon has gone (True) or timeout passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.002
    while is_alive(conmon_pid(bundle)):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def write_ctl(bundle: Path, message: str) -> bool:
    """Send one message (`<type> <a> <b>`) on conmon's `ctl` fifo; False if conmon is gone."""
    try:
        fd = os.open(bundle / CTL_FIFO, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.write(fd, f"{message}\n".encode())
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def set_once(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


class AttachConnection:
    """A client connection to conmon's attach socket (non-blocking, for one event loop)."""

    def __init__(self, bundle: Path) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            fd = os.open(bundle / ATTACH_SOCKET, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock: socket.socket | None = sock
        self._waiters: set[asyncio.Future[None]] = set()

    async def _until(self, add: Callable[..., None], remove: Callable[[int], bool]) -> None:
        """Wait until the socket is readable/writable (per add/remove) or closed."""
        assert self._sock is not None
        fileno = self._sock.fileno()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(ready)
        add(fileno, set_once, ready)
        try:
            await ready
        finally:
            self._waiters.discard(ready)
            if self._sock is not None:
                remove(fileno)

    async def recv(self) -> tuple[int, bytes] | None:
        """The next output packet as (STDOUT_PIPE | STDERR_PIPE, data); None at the end."""
        loop = asyncio.get_running_loop()
        while self._sock is not None:
            try:
                packet = self._sock.recv(ATTACH_PACKET_MAX + 1)
            except BlockingIOError:
                await self._until(loop.add_reader, loop.remove_reader)
                continue
            except OSError:
                return None
            if not packet:
                return None
            return packet[0], packet[1:]
        return None

    async def send(self, data: bytes) -> None:
        """Write to the container's stdin; dropped once conmon or the connection has gone."""
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), STDIN_CHUNK):
            chunk = data[start:start + STDIN_CHUNK]
            while self._sock is not None:
                try:
                    self._sock.send(chunk)
                    break
                except BlockingIOError:
                    await self._until(loop.add_writer, loop.remove_writer)
                except OSError:
                    return

    def shutdown_write(self) -> None:
        """Half-close: conmon sees EOF (and closes the container's stdin unless told not to)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Detach; pending recv()/send() calls return."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing can be registered
            loop = asyncio.get_running_loop()
            loop.remove_reader(sock.fileno())
            loop.remove_writer(sock.fileno())
        sock.close()
        for waiter in list(self._waiters):
            set_once(waiter)


def is_alive(pid: int | None) -> bool:
    """False for a gone or zombie process (zombies wait for a reaper that may be slow)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
