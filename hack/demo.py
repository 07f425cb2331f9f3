#!/usr/bin/env python3
"""`make demo`: start a podhost node, make the seed's images available, apply the seed Pod
unchanged and run each of the seed's verification steps, printing every command and its output.

Images come from Docker Hub when it can be reached. Otherwise (this machine is offline) they are
built from Debian packages (`make images`), pushed to Debian's docker-registry on 127.0.0.1 and
that registry is configured as the `docker.io` mirror in the node's registries.conf, so
`image: nginx` / `image: busybox` (pull policy Always) are really pulled, as on a cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))
import registry  # noqa: E402  (hack/registry.py, stdlib only)

PODHOST = str(REPO / ".venv" / "bin" / "podhost")
ROOT = Path(os.environ.get("PODHOST_ROOT", "/var/lib/podhost"))
IMAGES = REPO / "build" / "test-images"
WORK = REPO / "build" / "demo"
REGISTRY_DIR = WORK / "registry"
REGISTRY_PORT = int(os.environ.get("PODHOST_DEMO_REGISTRY_PORT", "5001"))
HUB_HOST = "registry-1.docker.io"
SEED_IMAGES = ("nginx", "busybox")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")


def env() -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(ROOT / "kubeconfig"), "PODHOST_ROOT": str(ROOT)}


def show(cmd: list[str], check: bool = True, extra_env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    shown = " ".join(cmd).replace(PODHOST, "podhost")
    print(f"\n$ {shown}", flush=True)
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**env(), **(extra_env or {})})
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    if check and result.returncode != 0:
        sys.exit(f"demo failed: {shown} exited {result.returncode}")
    return result


def say(text: str) -> None:
    print(f"\n# {text}", flush=True)


# -- images -----------------------------------------------------------------------------------

def hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def has_manifest(port: int, repository: str) -> bool:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/{repository}/manifests/latest",
                                 method="HEAD", headers={"Accept": MANIFEST_TYPES})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_mirror() -> str:
    """Debian's docker-registry on 127.0.0.1 holding the seed's images; returns host:port."""
    if registry.ping(REGISTRY_PORT):
        print(f"local registry already running on 127.0.0.1:{REGISTRY_PORT}")
    else:
        print(f"$ docker-registry serve {REGISTRY_DIR}/config.yml &   (127.0.0.1:{REGISTRY_PORT})")
        registry.start(str(REGISTRY_DIR), REGISTRY_PORT)
    for name in SEED_IMAGES:
        if has_manifest(REGISTRY_PORT, f"library/{name}"):
            continue
        archive = IMAGES / f"{name}.oci.tar"
        print(f"$ skopeo copy oci-archive:{archive} "
              f"docker://127.0.0.1:{REGISTRY_PORT}/library/{name}:latest", flush=True)
        registry.push(REGISTRY_PORT, str(archive), f"library/{name}:latest")
    return f"127.0.0.1:{REGISTRY_PORT}"


def write_mirror_conf(mirror: str) -> Path:
    conf = ROOT / "registries.conf"
    ROOT.mkdir(parents=True, exist_ok=True, mode=0o711)
    conf.write_text(
        "# Written by `make demo`: docker.io is served by a local registry mirror (offline).\n"
        "# containers-registries.conf(5) format, the file podman, CRI-O and skopeo read.\n"
        'unqualified-search-registries = ["docker.io"]\n\n'
        '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n\n'
        f'[[registry.mirror]]\nlocation = "{mirror}"\ninsecure = true\n')
    print(f"$ cat {conf}\n{conf.read_text()}", end="")
    return conf


# -- the node ---------------------------------------------------------------------------------

def node_pid() -> int | None:
    try:
        pid = int((ROOT / "podhost.pid").read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def node_env(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def start_node(conf: Path | None) -> None:
    wanted = {"PODHOST_REGISTRIES_CONF": str(conf)} if conf else {}
    pid = node_pid()
    if pid and conf and node_env(pid).get("PODHOST_REGISTRIES_CONF") != str(conf):
        say("the running node does not use the mirror configuration: restart it "
            "(its Pods keep running and are adopted)")
        show([PODHOST, "down"])
    if conf:
        print(f"\n$ export PODHOST_REGISTRIES_CONF={conf}")
    show([PODHOST, "up"], extra_env=wanted)


# -- the seed ---------------------------------------------------------------------------------

def port_forward_fetch() -> str:
    """`kubectl port-forward` to nginx and fetch the page from the host."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["kubectl", "port-forward", "pod/data-sharing-pod", f"{port}:80"]
    print(f"\n$ {' '.join(cmd)} &", flush=True)
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        sys.stdout.write(first)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        print(f"$ curl http://127.0.0.1:{port}/", flush=True)
        for _ in range(50):
            try:
                with opener.open(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read().decode()
                    sys.stdout.write(body)
                    return body
            except OSError:
                time.sleep(0.1)
        return ""
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pod_ip_fetch() -> str:
    """Fetch the page from the host at the Pod's own address (docs/network.md)."""
    ip = show(["kubectl", "get", "pod", "data-sharing-pod", "-o",
               "jsonpath={.status.podIP}"]).stdout.strip()
    if not ip or ip.startswith("127."):
        return ""  # a node started with --pod-cidr none
    print(f"\n$ curl http://{ip}/", flush=True)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{ip}/", timeout=5) as r:
            body = r.read().decode()
    except OSError as e:
        print(f"curl: {e}")
        return ""
    sys.stdout.write(body)
    return body


def run_seed() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "data-sharing-pod.yaml", WORK / "data-sharing-pod.yaml")
    os.chdir(WORK)
    show(["kubectl", "delete", "pod", "data-sharing-pod", "--ignore-not-found"])
    say("1. deploy the Pod (the seed's YAML, unchanged)")
    show(["cat", "data-sharing-pod.yaml"])
    show(["kubectl", "apply", "-f", "data-sharing-pod.yaml"])
    show(["kubectl", "wait", "--for=condition=Ready", "pod/data-sharing-pod", "--timeout=120s"])
    say("2. verify the Pod is running")
    show(["kubectl", "get", "pods"])
    show(["kubectl", "get", "events", "--field-selector",
          "involvedObject.name=data-sharing-pod", "--sort-by=.lastTimestamp"])
    say("3. access the containers: both see the file in the shared emptyDir")
    for container in ("app-container-1", "app-container-2"):
        show(["kubectl", "exec", "data-sharing-pod", "-c", container, "--",
              "cat", "/usr/share/nginx/html/index.html"])
    say("busybox has no /bin/bash, as on a cluster (`exec -it ... -- /bin/sh` works there)")
    show(["kubectl", "exec", "data-sharing-pod", "-c", "app-container-2", "--", "/bin/bash"],
         check=False)
    say("4. nginx serves what busybox wrote")
    result = show(["kubectl", "exec", "data-sharing-pod", "-c", "app-container-2", "--",
                   "wget", "-qO-", "http://127.0.0.1/"])
    served = port_forward_fetch()
    served += pod_ip_fetch()
    if "Shared data from app-container-2" not in result.stdout + served:
        sys.exit("demo failed: nginx did not serve the shared file")
    print("\nnginx (app-container-1) serves the file busybox (app-container-2) wrote into the "
          "shared emptyDir.")
    print(f"The node keeps running (pid file {ROOT}/podhost.pid); try\n"
          f"  export KUBECONFIG={ROOT}/kubeconfig\n"
          "  kubectl exec -it data-sharing-pod -c app-container-1 -- /bin/bash\n"
          "`podhost down` stops the node; `podhost delete pod data-sharing-pod` removes the Pod.")


def main() -> None:
    say("podhost demo: the seed Pod (nginx serves what busybox writes through an emptyDir)")
    conf = None
    if hub_reachable():
        print("Docker Hub is reachable: the seed's images are pulled from it.")
    else:
        print("Docker Hub cannot be reached (offline): the seed's images, built from Debian "
              "packages, are served by a local registry configured as the docker.io mirror.")
        conf = write_mirror_conf(start_mirror())
    start_node(conf)
    run_seed()


if __name__ == "__main__":
    main()
