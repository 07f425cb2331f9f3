"""What a container sees, with real kubectl (issue 6): env sources and `$(VAR)` expansion,
hostname and /etc/hosts, securityContext as read from /proc inside the container, `kubectl
logs` options and the image's STOPSIGNAL. Expected values are a Kubernetes 1.32 node's
(kubelet + containerd + runc) unless a comment says podhost chose otherwise."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import apply, delete, events, get, row, unique, wait_for

pytestmark = pytest.mark.e2e

NS = "default"


def logs(node: Node, name: str, *args: str, check: bool = True) -> str:
    return node.kubectl("logs", name, *args, check=check).stdout


def succeeded(node: Node, name: str, timeout: float = 60) -> dict[str, Any]:
    """Wait for a restartPolicy Never Pod to finish; its status."""
    def done() -> Any:
        status = get(node, name)["status"]
        for s in status.get("containerStatuses") or []:  # fail fast: it will not start
            waiting = s["state"].get("waiting") or {}
            assert waiting.get("reason") != "CreateContainerConfigError", (s["name"], waiting)
        return status if status.get("phase") in ("Succeeded", "Failed") else None
    status = wait_for(done, timeout, f"{name} to finish")
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    return dict(status)


def waiting(node: Node, name: str, container: str, timeout: float = 30) -> dict[str, Any]:
    def state() -> Any:
        for s in get(node, name)["status"].get("containerStatuses") or []:
            if s["name"] == container and s["state"].get("waiting", {}).get("message"):
                return s["state"]["waiting"]
        return None
    return dict(wait_for(state, timeout, f"{container} waiting with a message"))


def env_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# -- 1. env sources and $(VAR) expansion --------------------------------------------------

def test_env_sources_and_expansion(node: Node) -> None:
    cm, sec, name = unique("env-cm"), unique("env-sec"), unique("env")
    node.kubectl("create", "configmap", cm, "--from-literal=color=blue",
                 "--from-literal=1abc=one", "--from-literal=bad-key=two")
    node.kubectl("create", "secret", "generic", sec, "--from-literal=password=s3cret",
                 "--from-literal=token=t0k")
    # the environment as the runtime gave it: pid 1 is this sh (a pipeline is forked, not
    # exec'd), whose children would not get names like CM_bad-key
    script = 'echo "ARGS=$1|$2|$3|$4|$5"; cat /proc/1/environ | tr "\\0" "\\n"'
    apply(node, {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [{
        "name": "c", "image": "busybox",
        "command": ["sh", "-c", script, "sh"],
        "args": ["$(COLOR)", "$$(COLOR)", "$(NOPE)", "$(PATH)", "$(CM_color)$(password)"],
        "envFrom": [{"configMapRef": {"name": cm}, "prefix": "CM_"},
                    {"secretRef": {"name": sec}},
                    {"configMapRef": {"name": "no-such-cm", "optional": True}}],
        "env": [
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "color"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": sec,
                                                                "key": "password"}}},
            {"name": "OPT_KEY", "valueFrom": {"configMapKeyRef": {
                "name": cm, "key": "absent", "optional": True}}},
            {"name": "OPT_CM", "valueFrom": {"secretKeyRef": {
                "name": "no-such-secret", "key": "k", "optional": True}}},
            {"name": "token", "value": "from-env"},  # env wins over envFrom
            {"name": "COMPOSED", "value": "$(COLOR)-$(CM_1abc)-$$(COLOR)-$(NOPE)-$(LATER)"},
            {"name": "LATER", "value": "late"}]}]}})
    try:
        succeeded(node, name)
        out = logs(node, name)
        env = env_of(out)
        # the image's PATH is not a Pod variable: kubelet leaves $(PATH) as is
        assert "ARGS=blue|$(COLOR)|$(NOPE)|$(PATH)|blues3cret" in out, out
        assert env.get("COLOR") == "blue" and env["PASSWORD"] == "s3cret", out
        assert env["CM_color"] == "blue"
        # 1.32 (RelaxedEnvironmentVariableValidation on): keys starting with a digit or
        # holding '-' are valid names; none is skipped, no InvalidEnvironmentVariableNames
        assert env["CM_1abc"] == "one" and env["CM_bad-key"] == "two"
        assert env["password"] == "s3cret" and env["token"] == "from-env"
        assert env["COMPOSED"] == "blue-one-$(COLOR)-$(NOPE)-$(LATER)"
        assert "OPT_KEY" not in env and "OPT_CM" not in env
        assert "InvalidEnvironmentVariableNames" not in events(node, name)
    finally:
        delete(node, name)
        node.kubectl("delete", "configmap", cm, check=False)
        node.kubectl("delete", "secret", sec, check=False)


def test_missing_configmap_then_created(node: Node) -> None:
    cm, sec, name = unique("late-cm"), unique("late-sec"), unique("late")
    node.kubectl("create", "secret", "generic", sec, "--from-literal=a=b")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [
        {"name": "a", "image": "busybox", "command": ["sh", "-c", "echo K=$K; sleep 3600"],
         "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "k"}}}]},
        {"name": "b", "image": "busybox", "command": ["sleep", "3600"],
         "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": sec, "key": "nokey"}}}]},
        {"name": "c", "image": "busybox", "command": ["sleep", "3600"],
         "envFrom": [{"secretRef": {"name": "gone-" + sec}}]}]}})
    try:
        state = waiting(node, name, "a")
        assert state == {"reason": "CreateContainerConfigError",
                         "message": f'configmap "{cm}" not found'}
        assert waiting(node, name, "b") == {
            "reason": "CreateContainerConfigError",
            "message": f"couldn't find key nokey in Secret {NS}/{sec}"}
        assert waiting(node, name, "c")["message"] == f'secret "gone-{sec}" not found'
        assert re.match(rf"^{name}\s+0/3\s+CreateContainerConfigError\s", row(node, name))
        assert f'Error: configmap "{cm}" not found' in events(node, name)
        node.kubectl("create", "configmap", cm, "--from-literal=k=v")
        wait_for(lambda: "K=v" in logs(node, name, "-c", "a", check=False), 30, "a running")
        statuses = {s["name"]: s for s in get(node, name)["status"]["containerStatuses"]}
        assert "running" in statuses["a"]["state"]
        assert statuses["b"]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    finally:
        delete(node, name)
        node.kubectl("delete", "configmap", cm, check=False)
        node.kubectl("delete", "secret", sec, check=False)


# -- 2. hostname, subdomain, setHostnameAsFQDN ----------------------------------------------

HOST_SCRIPT = ('hostname; cat /etc/hostname; echo "HOSTNAME=$HOSTNAME"; hostname -f; '
               'cat /etc/hosts')


def test_hostname_subdomain_and_fqdn(node: Node) -> None:
    plain, sub, fqdn = unique("host-plain"), unique("host-sub"), unique("host-fqdn")
    for pod, extra in ((plain, {}), (sub, {"hostname": "web", "subdomain": "grp"}),
                       (fqdn, {"hostname": "api", "subdomain": "grp",
                               "setHostnameAsFQDN": True})):
        apply(node, {"metadata": {"name": pod}, "spec": {
            "restartPolicy": "Never", **extra,
            "containers": [{"name": "c", "image": "busybox",
                            "command": ["sh", "-c", HOST_SCRIPT]}]}})
    try:
        for pod in (plain, sub, fqdn):
            succeeded(node, pod)
        out = logs(node, plain).splitlines()
        assert out[:4] == [plain, plain, f"HOSTNAME={plain}", plain], out
        ip = get(node, plain)["status"]["podIP"]
        assert out[-1] == f"{ip}\t{plain}", out

        out = logs(node, sub).splitlines()
        assert out[:4] == ["web", "web", "HOSTNAME=web", f"web.grp.{NS}.svc.cluster.local"], out
        ip = get(node, sub)["status"]["podIP"]
        assert out[-1] == f"{ip}\tweb.grp.{NS}.svc.cluster.local\tweb", out
        assert out[4] == "# Kubernetes-managed hosts file."

        out = logs(node, fqdn).splitlines()
        full = f"api.grp.{NS}.svc.cluster.local"
        assert out[:4] == [full, full, f"HOSTNAME={full}", full], out
        ip = get(node, fqdn)["status"]["podIP"]
        assert out[-1] == f"{ip}\t{full}\tapi", out
    finally:
        for pod in (plain, sub, fqdn):
            delete(node, pod)


# -- 3. securityContext, read from inside ---------------------------------------------------

STATUS = ("grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' "
          "| tr ':' '='; echo \"ID=$(id -u):$(id -g)\"")
PROBES = (STATUS + "; echo TIMERS=$(head -c 4 /proc/timer_list | wc -c); "
          "echo KCORE=$([ -e /proc/kcore ] && head -c 4 /proc/kcore | wc -c || echo absent); "
          "(echo x > /proc/sys/kernel/domainname) 2>&1 | sed 's/^/PROCSYS=/'; "
          "echo DEVS=$(ls /dev | wc -l); touch /x 2>&1 | sed 's/^/ROOTFS=/'; "
          "touch /scratch/ok && echo SCRATCH=ok; true")

DEFAULT_CAPS = 0x00000000A80425FB  # containerd's 14 default capabilities
NET_ADMIN = 1 << 12


def host_bounding_set(node: Node) -> int:
    text = Path(f"/proc/{node.process.pid}/status").read_text()
    return int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", text, re.M).group(1), 16)  # type: ignore


def test_security_context(node: Node) -> None:
    name = unique("sec")

    def c(cname: str, sc: dict[str, Any]) -> dict[str, Any]:
        return {"name": cname, "image": "busybox", "command": ["sh", "-c", PROBES],
                "securityContext": sc,
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}

    apply(node, {"metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "volumes": [{"name": "scratch", "emptyDir": {}}],
        "containers": [
            c("default", {}),
            c("nnp", {"allowPrivilegeEscalation": False,
                      "seccompProfile": {"type": "RuntimeDefault"}}),
            c("unconfined", {"seccompProfile": {"type": "Unconfined"},
                             "allowPrivilegeEscalation": True}),
            c("netadmin", {"capabilities": {"add": ["NET_ADMIN"]}}),
            c("dropall", {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
            c("addall", {"capabilities": {"add": ["ALL"], "drop": ["NET_ADMIN"]}}),
            c("addrop", {"capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_ADMIN",
                                                                        "CHOWN"]}}),
            c("priv", {"privileged": True}),
            c("ro", {"readOnlyRootFilesystem": True}),
            c("user", {"runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": True})]}})
    try:
        succeeded(node, name, timeout=90)
        got = {cname: env_of(logs(node, name, "-c", cname))
               for cname in ("default", "nnp", "unconfined", "netadmin", "dropall", "addall",
                             "addrop", "priv", "ro", "user")}
        d = got["default"]
        assert int(d["CapEff"], 16) == DEFAULT_CAPS, d
        assert d["ID"] == "0:0"
        # podhost's documented hardening (docs/security.md): RuntimeDefault seccomp and
        # no_new_privs unless asked otherwise; kubelet's defaults are Seccomp 0, NoNewPrivs 0
        assert d["Seccomp"] == "2" and d["NoNewPrivs"] == "1", d
        # masked paths: /dev/null bound over them (this kernel may have no /proc/kcore)
        has_kcore = Path("/proc/kcore").exists()
        assert d["TIMERS"] == "0" and d["KCORE"] == ("0" if has_kcore else "absent"), d
        assert d["PROCSYS"].endswith("Read-only file system"), d
        assert "ROOTFS" not in d and d["SCRATCH"] == "ok", d
        assert got["nnp"]["NoNewPrivs"] == "1" and got["nnp"]["Seccomp"] == "2"
        u = got["unconfined"]
        assert u["NoNewPrivs"] == "0" and u["Seccomp"] == "0", u
        assert int(got["netadmin"]["CapEff"], 16) == DEFAULT_CAPS | NET_ADMIN
        assert int(got["dropall"]["CapEff"], 16) == 1 << 10  # NET_BIND_SERVICE only
        everything = int(got["priv"]["CapEff"], 16)
        assert everything == host_bounding_set(node), got["priv"]  # all the node can grant
        # add ALL, drop NET_ADMIN: containerd applies ALL first, then the single drops
        assert int(got["addall"]["CapEff"], 16) == everything & ~NET_ADMIN, got["addall"]
        assert int(got["addrop"]["CapEff"], 16) == DEFAULT_CAPS & ~1, got["addrop"]
        p = got["priv"]
        assert p["Seccomp"] == "0" and p["NoNewPrivs"] == "0", p
        assert p["TIMERS"] == "4" and p["KCORE"] == ("4" if has_kcore else "absent"), p
        assert "PROCSYS" not in p, p  # /proc/sys writable
        assert int(p["DEVS"]) > int(d["DEVS"]), (p, d)  # the host's devices
        r = got["ro"]
        assert r["ROOTFS"] == "touch: /x: Read-only file system", r
        assert r["SCRATCH"] == "ok", r
        usr = got["user"]
        assert usr["ID"] == "1000:3000" and int(usr["CapEff"], 16) == 0, usr
    finally:
        delete(node, name)


def test_run_as_non_root_with_root_image(node: Node) -> None:
    name = unique("nonroot")
    apply(node, {"metadata": {"name": name}, "spec": {
        "securityContext": {"runAsNonRoot": True},
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]},
                       {"name": "zero", "image": "busybox", "command": ["sleep", "3600"],
                        "securityContext": {"runAsUser": 0}}]}})
    try:
        uid = get(node, name)["metadata"]["uid"]
        pod = f'"{name}_{NS}({uid})"'
        assert waiting(node, name, "c") == {
            "reason": "CreateContainerConfigError",
            "message": f"container has runAsNonRoot and image will run as root "
                       f"(pod: {pod}, container: c)"}
        assert waiting(node, name, "zero")["message"] == (
            f"container's runAsUser breaks non-root policy (pod: {pod}, container: zero)")
    finally:
        delete(node, name)


# -- 4. kubectl logs options ----------------------------------------------------------------

def test_logs_options(node: Node) -> None:
    name = unique("logopts")
    apply(node, {"metadata": {"name": name}, "spec": {"containers": [{
        "name": "app", "image": "busybox",
        "command": ["sh", "-c", "echo one; echo two; echo three; echo four; sleep 3600"]}]}})
    try:
        node.wait_ready(name, timeout=60)
        wait_for(lambda: "four" in logs(node, name), 10, "the log")
        assert logs(node, name) == "one\ntwo\nthree\nfour\n"
        assert logs(node, name, "--tail=2") == "three\nfour\n"
        assert logs(node, name, "--limit-bytes=5") == "one\nt"
        stamped = logs(node, name, "--timestamps").splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three", "four"]
        for line in stamped:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \w+", line), line
        first = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*Z", r"\1+00:00",
                                              stamped[0].split()[0]).replace("Z", "+00:00"))
        assert abs(datetime.now(timezone.utc) - first) < timedelta(minutes=5)
        assert logs(node, name, "--since=1h") == "one\ntwo\nthree\nfour\n"
        time.sleep(max(0.0, 2.5 - (datetime.now(timezone.utc) - first).total_seconds()))
        assert logs(node, name, "--since=1s") == ""
        before = (first - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = (datetime.now(timezone.utc) + timedelta(seconds=5)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        assert logs(node, name, f"--since-time={before}") == "one\ntwo\nthree\nfour\n"
        assert logs(node, name, f"--since-time={later}") == ""
        assert logs(node, name, "--tail=1", "--timestamps").endswith(" four\n")
        failed = node.kubectl("logs", name, "--previous", check=False)
        assert failed.returncode != 0
        assert failed.stderr.strip() == (f'Error from server (BadRequest): previous terminated '
                                         f'container "app" in pod "{name}" not found')
    finally:
        delete(node, name)


# -- 5. the image's STOPSIGNAL --------------------------------------------------------------

def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def stop_signal_image(out: Path, ref: str, signal: str) -> Path:
    """build/test-images/busybox.oci.tar with `StopSignal` in its config, tagged `ref`: a new
    config, manifest and index over the same layer."""
    src = tarfile.open(TEST_IMAGES / "busybox.oci.tar")
    index = json.load(src.extractfile("index.json"))  # type: ignore[arg-type]

    def blob(digest: str) -> bytes:
        return src.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()  # type: ignore

    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    config["config"]["StopSignal"] = signal
    config_bytes = json.dumps(config).encode()
    manifest["config"]["digest"] = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    manifest["config"]["size"] = len(config_bytes)
    manifest_bytes = json.dumps(manifest).encode()
    index["manifests"] = [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
        "size": len(manifest_bytes),
        "annotations": {"io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref}}]
    path = out / "stopsignal.oci.tar"
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for data in (config_bytes, manifest_bytes):
            _add(tar, f"blobs/sha256/{hashlib.sha256(data).hexdigest()}", data)
        layer = manifest["layers"][0]["digest"]
        _add(tar, f"blobs/sha256/{layer.split(':')[1]}", blob(layer))
    return path


def test_image_stop_signal(node: Node, tmp_path: Path) -> None:
    ref = "docker.io/library/busybox-stopsignal:latest"
    node.podhost("images", "load", str(stop_signal_image(tmp_path, ref, "SIGUSR1")))
    name = unique("stopsig")
    apply(node, {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 10,
        "volumes": [{"name": "shared", "emptyDir": {}}],
        "containers": [
            {"name": "app", "image": "busybox-stopsignal",
             "command": ["sh", "-c", "trap 'echo usr1 >> /shared/got; exit 0' USR1; "
                         "trap 'echo term >> /shared/got; exit 0' TERM; "
                         "while true; do sleep 0.1; done"],
             "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]},
            {"name": "watcher", "image": "busybox",
             "command": ["sh", "-c", "trap 'sleep 1; exit 0' TERM; "
                         "while true; do sleep 0.1; done"],
             "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}]}})
    try:
        node.wait_ready(name, timeout=60)
        node.kubectl("delete", "pod", name, "--wait=false")

        def got() -> str:
            return node.kubectl("exec", name, "-c", "watcher", "--", "cat", "/shared/got",
                                check=False).stdout.strip()
        assert wait_for(got, 10, "the stop signal") == "usr1"
        node.kubectl("wait", "--for=delete", f"pod/{name}", "--timeout=30s", timeout=40)
    finally:
        delete(node, name)
