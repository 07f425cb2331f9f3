#!/usr/bin/env python3
"""`make demo`: start a podhost node, make the seed's images available offline, apply the seed
Pod and run each of the seed's verification steps, printing every command and its output."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PODHOST = str(REPO / ".venv" / "bin" / "podhost")
ROOT = Path(os.environ.get("PODHOST_ROOT", "/var/lib/podhost"))
PORT = int(os.environ.get("PODHOST_PORT", "6443"))
IMAGES = REPO / "build" / "test-images"
WORK = REPO / "build" / "demo"


def show(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env())
    sys.stdout.write(result.stdout)
    sys.stdout.write(result.stderr)
    if check and result.returncode != 0:
        sys.exit(f"demo failed: {' '.join(cmd)} exited {result.returncode}")
    return result


def env() -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(ROOT / "kubeconfig"), "PODHOST_ROOT": str(ROOT)}


def ready() -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{PORT}/readyz", context=ctx,
                                    timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def start_node() -> None:
    if ready():
        print(f"podhost node already running on port {PORT}")
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "serve.log", "ab")
    print(f"$ podhost serve --root {ROOT} --port {PORT} &   (log: {ROOT}/serve.log)")
    subprocess.Popen([PODHOST, "serve", "--root", str(ROOT), "--port", str(PORT)],
                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(300):
        if ready():
            return
        time.sleep(0.1)
    sys.exit(f"the node did not start; see {ROOT}/serve.log")


def main() -> None:
    start_node()
    for name in ("nginx", "busybox"):
        show([PODHOST, "images", "load", str(IMAGES / f"{name}.oci.tar")])
    WORK.mkdir(parents=True, exist_ok=True)
    manifest = WORK / "data-sharing-pod.yaml"
    shutil.copy(REPO / "examples" / "data-sharing-pod.yaml", manifest)
    os.chdir(WORK)
    show(["kubectl", "delete", "pod", "data-sharing-pod", "--ignore-not-found"])
    show(["kubectl", "apply", "-f", "data-sharing-pod.yaml"])
    show(["kubectl", "wait", "--for=condition=Ready", "pod/data-sharing-pod", "--timeout=60s"])
    show(["kubectl", "get", "pods"])
    for container in ("app-container-1", "app-container-2"):
        show(["kubectl", "exec", "data-sharing-pod", "-c", container, "--",
              "cat", "/usr/share/nginx/html/index.html"])
    result = show(["kubectl", "exec", "data-sharing-pod", "-c", "app-container-2", "--",
                   "wget", "-qO-", "http://127.0.0.1/"])
    if "Shared data from app-container-2" not in result.stdout:
        sys.exit("demo failed: nginx did not serve the shared file")
    print("\nnginx (app-container-1) serves the file busybox (app-container-2) wrote into the "
          "shared emptyDir.")
    print(f"The node keeps running (pid file {ROOT}/podhost.pid); try "
          "`kubectl exec -it data-sharing-pod -c app-container-1 -- /bin/bash`.")


if __name__ == "__main__":
    main()
