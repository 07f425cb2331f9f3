"""Pod sandboxes without a long-lived process (like CRI-O's pinns).

A sandbox is a new network, IPC and UTS namespace, each kept alive by bind-mounting its nsfs
file onto `ns_dir/{net,ipc,uts}`. Containers join them by path (OCI `linux.namespaces[].path`).

The namespaces are made by a short-lived dedicated thread: unshare(2) of CLONE_NEWNET,
CLONE_NEWIPC and CLONE_NEWUTS is per-thread in a multi-threaded process, so the thread sets
the hostname, brings loopback up (SIOCSIFFLAGS on a socket it opens inside the new network
namespace), makes the Pod's eth0 (one `ip -batch`, see podhost.network), bind-mounts
/proc/thread-self/ns/* onto the files, and exits. Without a Pod network nothing is executed:
measured here, about 3 ms median per sandbox (mostly the kernel creating the network
namespace) against 4.5 ms for `unshare --net=FILE ... -- sh -c 'hostname ...; ip link set lo
up'`. The thread is never a pool thread: it must not run anything else once its namespaces
differ from the process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from podhost.host.mount import bind, is_mount_point, unmount
from podhost.network import PodInterface
from podhost.runtime.errors import SandboxError

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

#: OCI namespace type -> file in ns_dir (also the name of its /proc/<tid>/ns entry)
NAMESPACE_FILES: dict[str, str] = {"network": "net", "ipc": "ipc", "uts": "uts"}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def namespace_paths(ns_dir: Path) -> dict[str, str]:
    """{OCI namespace type: pinned namespace file} of a sandbox directory."""
    return {kind: str(ns_dir / name) for kind, name in NAMESPACE_FILES.items()}


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}", err)


def _loopback_up() -> None:
    """Set IFF_UP on `lo` of the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _configure_interface(iface: PodInterface) -> None:
    """Make the Pod's veth pair and address from inside its namespace: one `ip -batch`, forked
    by this thread so that it runs in the thread's (the Pod's) network namespace."""
    try:
        done = subprocess.run(["ip", "-batch", "-"], input=iface.ip_batch(os.getpid()).encode(),
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxError(f"cannot configure the Pod's network: {e}") from None
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip()
        raise SandboxError(f"cannot configure the Pod's network: {text}")


def _pin_new_namespaces(ns_dir: Path, hostname: str, iface: PodInterface | None,
                        shared: frozenset[str] = frozenset()) -> None:
    """Body of the dedicated thread: new namespaces, set up, then bind-mounted onto files.
    Those named in `shared` (hostNetwork, hostIPC) are the host's own, pinned as they are:
    never renamed, never reconfigured."""
    flags = 0
    for name, flag in (("net", CLONE_NEWNET), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS)):
        flags |= 0 if name in shared else flag
    if flags:
        _check(_libc.unshare(flags), "unshare")
    if hostname and "uts" not in shared:
        encoded = hostname.encode()
        _check(_libc.sethostname(encoded, len(encoded)), "sethostname")
    if "net" not in shared:
        _loopback_up()
        if iface is not None:
            _configure_interface(iface)
    for name in NAMESPACE_FILES.values():
        bind(f"/proc/thread-self/ns/{name}", ns_dir / name, recursive=False)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if not done.done():
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _run_in_fresh_thread(ns_dir: Path, hostname: str, iface: PodInterface | None,
                         done: asyncio.Future[None], loop: asyncio.AbstractEventLoop,
                         shared: frozenset[str] = frozenset()) -> None:
    def body() -> None:
        try:
            _pin_new_namespaces(ns_dir, hostname, iface, shared)
        except BaseException as e:  # reported to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, done, e)
        else:
            loop.call_soon_threadsafe(_settle, done, None)

    threading.Thread(target=body, name="podhost-sandbox", daemon=True).start()


async def create_sandbox(ns_dir: Path, hostname: str, iface: PodInterface | None = None,
                         shared: frozenset[str] = frozenset()) -> dict[str, str]:
    """Make and pin a Pod's network, IPC and UTS namespaces; returns `namespace_paths(ns_dir)`.
    `shared` names those ("net", "ipc", "uts") that are the host's (hostNetwork, hostIPC).

    Loopback is up and the hostname set; with `iface`, the Pod's eth0 is made and addressed
    (its host end is left for the caller to attach to the bridge). ns_dir must not hold a
    sandbox yet.
    """
    ns_dir = Path(ns_dir)
    ns_dir.mkdir(parents=True, exist_ok=True)
    for name in NAMESPACE_FILES.values():
        target = ns_dir / name
        if target.exists() and is_mount_point(target):
            raise SandboxError(f"sandbox {ns_dir} already exists", errno.EEXIST)
        target.touch()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    _run_in_fresh_thread(ns_dir, hostname, iface, done, loop, shared)
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await done  # let the thread finish (milliseconds) so that nothing is mounted later
        remove_sandbox_sync(ns_dir)
        raise
    except BaseException as e:
        remove_sandbox_sync(ns_dir)
        if isinstance(e, OSError) and not isinstance(e, SandboxError):
            raise SandboxError(f"cannot create sandbox {ns_dir}: {e}", e.errno) from e
        raise
    return namespace_paths(ns_dir)


# -- a shared PID namespace (shareProcessNamespace) ------------------------------------------
#
# A PID namespace cannot be kept by a bind mount alone: once its init is gone nobody can join
# it. So, like Kubernetes' pause container, a tiny init runs as PID 1 of the new namespace and
# reaps the orphans the Pod's containers leave; it is in its own session, so it outlives
# podhost. Its pid is in `ns_dir/pause.pid`; `ns_dir/pid` pins the namespace for runc to join.

PAUSE = r"""
import os, signal
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
signal.signal(signal.SIGCHLD, lambda *a: None)
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    signal.pause()
"""


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def create_pid_namespace_sync(ns_dir: Path) -> str:
    """Start the Pod's PID 1 in a new PID namespace and pin it at ns_dir/pid; the path."""
    ns_dir = Path(ns_dir)
    target = ns_dir / "pid"
    if is_mount_point(target):
        return str(target)
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-I", "-S", "-c", PAUSE],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 5
    children: list[int] = []
    while not children and time.monotonic() < deadline:
        children = _children(proc.pid)
        if not children:
            time.sleep(0.005)
    if not children:
        proc.kill()
        raise SandboxError(f"cannot start the shared PID namespace of {ns_dir}", 0)
    (ns_dir / "pause.pid").write_text(str(proc.pid))
    target.touch()
    bind(f"/proc/{children[0]}/ns/pid", target, recursive=False)
    return str(target)


def remove_pid_namespace_sync(ns_dir: Path) -> None:
    """Stop the PID namespace's init (its processes die with it) and unpin it; idempotent."""
    ns_dir = Path(ns_dir)
    pidfile = ns_dir / "pause.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text())
        for child in _children(pid):
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 1.0
        with contextlib.suppress(ChildProcessError, OSError):  # reap it when it is our child
            while os.waitpid(pid, os.WNOHANG)[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
    pidfile.unlink(missing_ok=True)
    _unpin(ns_dir / "pid")


def _unpin(target: Path) -> None:
    """Unmount a pinned namespace file and delete it; a file mounted twice (e.g. by a racing
    create) needs unmounting twice."""
    with contextlib.suppress(FileNotFoundError):
        for _ in range(8):
            if not is_mount_point(target):
                break
            unmount(target, detach=True)
        target.unlink()


def remove_sandbox_sync(ns_dir: Path) -> None:
    """Unmount and delete a sandbox's namespace files and directory; idempotent."""
    ns_dir = Path(ns_dir)
    if not ns_dir.exists():
        return
    remove_pid_namespace_sync(ns_dir)
    for name in NAMESPACE_FILES.values():
        _unpin(ns_dir / name)
    with contextlib.suppress(FileNotFoundError):
        ns_dir.rmdir()


async def remove_sandbox(ns_dir: Path) -> None:
    """Unmount and delete a sandbox (see remove_sandbox_sync); idempotent."""
    await asyncio.to_thread(remove_sandbox_sync, Path(ns_dir))


def sandbox_exists(ns_dir: Path) -> bool:
    """True when every namespace file of ns_dir is a pinned namespace (a mount point)."""
    ns_dir = Path(ns_dir)
    return all(is_mount_point(ns_dir / name) for name in NAMESPACE_FILES.values())
