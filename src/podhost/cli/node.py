"""Verbs about the local node: kubeconfig, up, down, status, doctor."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podhost import __version__, config
from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.errors import CliError
from podhost.cli.localnode import local_server, readyz, root_of, running_pid, start_background


def print_kubeconfig(args: argparse.Namespace) -> int:
    path = root_of(args) / "kubeconfig"
    try:
        text = path.read_text()
    except FileNotFoundError:
        print(f"error: {path} does not exist: start the node first with `podhost up`",
              file=sys.stderr)
        return 1
    except PermissionError:
        print(f"error: cannot read {path}: run as root", file=sys.stderr)
        return 1
    if getattr(args, "user", None):
        from podhost.cli import kubeconfig
        try:
            text = kubeconfig.for_user(root_of(args), text, args.user, args.group,
                                       args.validity_days)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    sys.stdout.write(text)
    return 0


# ---- up / down ---------------------------------------------------------------------------

def up(args: argparse.Namespace) -> int:
    root = root_of(args)
    pid = running_pid(root)
    if pid:
        server = local_server(root) or "?"
        print(f"podhost node is already running (pid {pid}) at {server}")
        return 0
    server = start_background(root, args)
    print(f"podhost node is ready at {server} (pid {running_pid(root)})")
    print(f"kubeconfig: {root / 'kubeconfig'}")
    return 0


def pods_of(root: Path) -> list[Obj]:
    """The node's Pods as its API lists them ([] when it cannot be asked)."""
    try:
        conn = clientmod.resolve(clientmod.load_kubeconfig([root / "kubeconfig"]))
        return list(clientmod.Client(conn).get("/api/v1/pods").get("items") or [])
    except (CliError, OSError):
        return []


def down(args: argparse.Namespace) -> int:
    """Stop the node (SIGTERM: running Pods keep running and are adopted on the next start);
    with --delete-pods (SIGUSR1) the node stops its controllers, deletes every Pod, waits until
    each is torn down, removes its network rules and unmounts its storage, then stops."""
    import signal
    root = root_of(args)
    pid = running_pid(root)
    if pid is None:
        from podhost.network import haproxy
        if haproxy.stop_leftover(root / "ingress"):
            print("stopped the ingress proxy the node left running")
        print("podhost node is not running")
        return 0
    timeout, pods = args.timeout, []
    if args.delete_pods:
        pods = pods_of(root)
        timeout += max([float(p["spec"].get("terminationGracePeriodSeconds", 30))
                        for p in pods] + [0.0])
    os.kill(pid, signal.SIGUSR1 if args.delete_pods else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(root) is None or not _alive(pid):
            for pod in pods:
                print(f"pod \"{pod['metadata']['name']}\" deleted")
            print(f"podhost node stopped (pid {pid})" + ("" if args.delete_pods else
                  "; its Pods keep running and are adopted on the next start "
                  "(`podhost down --delete-pods` removes them)"))
            return 0
        time.sleep(0.1)
    raise CliError(f"error: the node (pid {pid}) did not stop within {timeout:.0f}s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


# ---- status ------------------------------------------------------------------------------

def tool_version(path: str) -> str:
    import subprocess
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    except subprocess.TimeoutExpired:  # a loaded machine
        return "unknown (no answer to --version in 10 s)"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "unknown"


ROOT_ONLY = "unknown (root's only: `sudo podhost status`)"


def count_images(root: Path) -> int | str:
    try:
        from podhost.images.store import ImageStore
        return len(ImageStore(root / "images").list())
    except PermissionError:
        return ROOT_ONLY
    except Exception as e:
        return f"unknown ({e})"


def count_pods(root: Path) -> int | str:
    if not os.access(root / "kubeconfig", os.R_OK):
        return ROOT_ONLY
    try:
        conn = clientmod.resolve(clientmod.load_kubeconfig([root / "kubeconfig"]))
        return len(clientmod.Client(conn).get("/api/v1/pods").get("items") or [])
    except CliError as e:
        return f"unknown ({e.render().splitlines()[0]})"


def status(args: argparse.Namespace) -> int:
    root = root_of(args)
    settings = config.Settings(root=root)
    pid = running_pid(root)
    server = local_server(root)
    healthy = bool(pid and server and readyz(server, timeout=5.0))  # a loaded machine
    rows = [("podhost", __version__), ("runc", tool_version(settings.runc)),
            ("conmon", tool_version(settings.conmon)), ("root", str(root)),
            ("kubeconfig", str(settings.kubeconfig_path)), ("log", str(root / "serve.log")),
            ("node", f"running (pid {pid})" if pid else "stopped"),
            ("server", server or "<none>"), ("health", "ok" if healthy else
                                             ("not ready" if pid else "-")),
            ("pods", count_pods(root) if healthy else "-"), ("images", count_images(root))]
    for key, value in rows:
        print(f"{key + ':':<12}{value}")
    return 0 if healthy or not pid else 1


# ---- doctor ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def filesystems(text: str) -> set[str]:
    return {line.split()[-1] for line in text.splitlines() if line.split()}


def cgroup_mode(mounts: str) -> str:
    """v2 (unified), hybrid or v1, from /proc/self/mounts."""
    types = {(line.split()[1], line.split()[2]) for line in mounts.splitlines()
             if len(line.split()) > 2}
    if ("/sys/fs/cgroup", "cgroup2") in types:
        return "v2"
    if any(t == "cgroup2" for _, t in types):
        return "hybrid"
    if any(t == "cgroup" for _, t in types):
        return "v1"
    return "none"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def checks(root: Path, settings: config.Settings) -> list[Check]:
    fs = filesystems(_read("/proc/filesystems"))
    cg = cgroup_mode(_read("/proc/self/mounts"))
    out = [
        Check("overlayfs", "overlay" in fs, "overlay in /proc/filesystems" if "overlay" in fs
              else "overlay missing from /proc/filesystems", "modprobe overlay"),
        Check("tmpfs", "tmpfs" in fs, "tmpfs available" if "tmpfs" in fs else "tmpfs missing",
              "use a kernel with CONFIG_TMPFS=y"),
        Check("cgroups", cg in ("v2", "hybrid", "v1"), f"cgroup {cg}",
              "mount cgroup2 on /sys/fs/cgroup (systemd.unified_cgroup_hierarchy=1)"),
        Check("root", os.geteuid() == 0, f"uid {os.geteuid()}",
              "run podhost as root (sudo podhost up)"),
    ]
    import shutil
    for tool, package in ((settings.runc, "runc"), (settings.conmon, "conmon")):
        found = os.access(tool, os.X_OK) or shutil.which(package) is not None
        out.append(Check(package, found, tool_version(tool) if found else f"{tool} not found",
                         f"apt-get install {package}"))
    for tool, package, why in (("ip", "iproute2", "the Pod network"),
                                ("nft", "nftables", "hostPort, Services and masquerading"),
                                ("mkfs.btrfs", "btrfs-progs", "the size limit of claims")):
        path = shutil.which(tool)
        out.append(Check(package, path is not None,
                         f"{path} ({why})" if path else f"{tool} not found (needed for {why})",
                         f"apt-get install {package}"))
    out.append(_checked("ingress", lambda: _ingress_check(root)))
    out.append(_checked("disk", lambda: _disk_check(root)))
    out.append(_checked("state", lambda: _state_files_check(root)))
    return out


def _checked(name: str, check: Callable[[], Check]) -> Check:
    """A check that cannot look (a path root's only, for another user) fails; never a
    traceback."""
    try:
        return check()
    except OSError as e:
        return Check(name, False, f"cannot check as uid {os.geteuid()}: {e}",
                     "run `sudo podhost doctor`")
def _ingress_check(root: Path) -> Check:
    """The ingress proxy: HAProxy installed, and where the node's proxy listens."""
    from podhost.network import haproxy
    fix = "apt-get install haproxy (the ingress proxy)"
    if not os.access(haproxy.HAPROXY, os.X_OK):
        return Check("ingress", False, f"{haproxy.HAPROXY} not found", fix)
    version = tool_version(haproxy.HAPROXY).split(" - ")[0]
    pid = haproxy.running(root / "ingress")
    if not pid:
        return Check("ingress", True, f"{version}; proxy not running "
                     "(ports --ingress-http-port 80, --ingress-https-port 443)", fix)
    ports = ", ".join(haproxy.listeners(root / "ingress")) or "no listener"
    return Check("ingress", True, f"{version}; proxy pid {pid} on {ports}", fix)


def _state_files_check(root: Path) -> Check:
    """Files holding objects, keys or tokens must be root's only; loose modes are fixed."""
    from podhost import statefiles
    try:
        loose = statefiles.loose(root)
    except PermissionError as e:
        return Check("state", False, f"cannot inspect {root} as uid {os.geteuid()}: "
                     f"{e.strerror}: {e.filename} (the node's files are root's only)",
                     "run `sudo podhost doctor`")
    if not loose:
        return Check("state", True, f"state files under {root} readable by root only", "")
    if not (root / "pki").is_dir():  # not a node's root (`--root /tmp`): leave its modes
        return Check("state", True, f"{root} holds no node yet", "")
    if os.geteuid() == 0:
        fixed = statefiles.fix(root)
        return Check("state", True, "tightened " + "; ".join(fixed), "")
    paths = ", ".join(str(p) for p, _, _ in loose)
    return Check("state", False, f"readable by others: {paths}",
                 "run `podhost doctor` or `podhost serve` as root (they tighten the modes)")


def _disk_check(root: Path) -> Check:
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    import shutil
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1e9
    return Check("disk", free_gb >= 2, f"{free_gb:.1f} GB free under {probe}",
                 f"free space under {probe} (at least 2 GB recommended)")


def doctor(args: argparse.Namespace) -> int:
    root = root_of(args)
    results = checks(root, config.Settings(root=root))
    for c in results:
        print(f"[{'ok' if c.ok else 'FAIL':>4}] {c.name:<10} {c.detail}")
        if not c.ok:
            print(f"       fix: {c.fix}")
    bad = [c for c in results if not c.ok]
    print(f"{len(results) - len(bad)}/{len(results)} checks passed")
    return 1 if bad else 0
