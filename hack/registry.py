#!/usr/bin/env python3
"""Tiny wrapper around Debian's docker-registry for local tests (stdlib only).

    python3 hack/registry.py start --dir DIR --port PORT   # prints the pid
    python3 hack/registry.py stop  --dir DIR
    python3 hack/registry.py push  --port PORT ARCHIVE NAME

start writes DIR/config.yml (127.0.0.1:PORT, filesystem storage in DIR/data,
no auth, deletes enabled), runs ``docker-registry serve`` in the background
(log: DIR/registry.log, pid: DIR/registry.pid) and waits for GET /v2/.
push copies an oci-archive (or docker-archive) into
127.0.0.1:PORT/NAME with skopeo over plain HTTP.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request

REGISTRY_BIN = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never proxy loopback


def ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with _opener().open(f"http://127.0.0.1:{port}/v2/", timeout=timeout) as r:
            return r.status == 200
    except urllib.error.HTTPError as e:
        return e.code == 401
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return b"docker-registry" in cmd


def _read_pid(d: str) -> int | None:
    try:
        with open(os.path.join(d, "registry.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def start(d: str, port: int, wait: float = 20.0) -> int:
    d = os.path.abspath(d)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    old = _read_pid(d)
    if old and _pid_alive(old):
        raise SystemExit(f"registry already running in {d} (pid {old})")
    if not os.path.exists(REGISTRY_BIN):
        raise SystemExit(f"{REGISTRY_BIN} missing: apt-get install docker-registry")
    cfg = os.path.join(d, "config.yml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(data=os.path.join(d, "data"), port=port))
    logf = open(os.path.join(d, "registry.log"), "ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    p = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdin=subprocess.DEVNULL, stdout=logf,
                         stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=d)
    logf.close()
    with open(os.path.join(d, "registry.pid"), "w") as f:
        f.write(f"{p.pid}\n")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if p.poll() is not None:
            tail = open(os.path.join(d, "registry.log"), errors="replace").read()[-2000:]
            raise SystemExit(f"docker-registry exited with {p.returncode}:\n{tail}")
        if ping(port):
            return p.pid
        time.sleep(0.1)
    p.terminate()
    raise SystemExit(f"docker-registry did not answer on 127.0.0.1:{port} within {wait}s")


def stop(d: str, timeout: float = 10.0) -> bool:
    pid = _read_pid(d)
    if pid is None or not _pid_alive(pid):
        try:
            os.unlink(os.path.join(d, "registry.pid"))
        except FileNotFoundError:
            pass
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:  # reap if it is our child (it is not when started by another process)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    os.unlink(os.path.join(d, "registry.pid"))
    return True


def archive_transport(path: str) -> str:
    with tarfile.open(path) as t:
        names = set(t.getnames())
    if "oci-layout" in names or "./oci-layout" in names:
        return "oci-archive"
    if "manifest.json" in names or "./manifest.json" in names:
        return "docker-archive"
    raise SystemExit(f"{path}: neither an OCI nor a docker archive")


def push(port: int, archive: str, name: str) -> None:
    src = f"{archive_transport(archive)}:{archive}"
    cmd = ["skopeo"]
    if not os.path.exists("/etc/containers/policy.json"):
        cmd.append("--insecure-policy")
    cmd += ["copy", "--dest-tls-verify=false", src, f"docker://127.0.0.1:{port}/{name}"]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="local docker-registry for tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--dir", required=True)
    s.add_argument("--port", type=int, required=True)
    s = sub.add_parser("stop")
    s.add_argument("--dir", required=True)
    s = sub.add_parser("push")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("archive")
    s.add_argument("name", help="e.g. library/nginx:latest")
    a = ap.parse_args(argv)
    if a.cmd == "start":
        print(start(a.dir, a.port))
    elif a.cmd == "stop":
        print("stopped" if stop(a.dir) else "not running")
    else:
        try:
            push(a.port, a.archive, a.name)
        except subprocess.CalledProcessError as e:
            return e.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
