"""Pod volumes through real kubectl: emptyDir modes and media (C1–C14, N1, E1–E3), subPath
(S1, S5–S8, X1–X3 and the symlink door), eviction on sizeLimit, K1, restarts and re-creation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e


def pod_yaml(name: str, script: str, volumes: list, mounts: list, *, policy: str = "Never",
             sc: dict | None = None, inits: list | None = None, env: dict | None = None) -> str:
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                 "volumeMounts": mounts,
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    spec = {"restartPolicy": policy, "terminationGracePeriodSeconds": 1,
            "securityContext": sc or {}, "volumes": volumes, "containers": [container]}
    if inits:
        spec["initContainers"] = inits
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": spec})


def create(node: Node, manifest: str) -> None:
    node.kubectl("create", "-f", "-", input=manifest)


def delete(node: Node, *names: str) -> None:
    node.kubectl("delete", "pod", *names, "--grace-period=0", "--force", "--wait=true",
                 check=False, timeout=60)


def wait_for(node: Node, name: str, jsonpath: str, value: str, timeout: float = 60) -> None:
    node.kubectl("wait", f"--for=jsonpath={{{jsonpath}}}={value}", f"pod/{name}",
                 f"--timeout={timeout}s", timeout=timeout + 10)


def get(node: Node, name: str, jsonpath: str) -> str:
    return node.kubectl("get", "pod", name, "-o", f"jsonpath={{{jsonpath}}}").stdout


def logs(node: Node, name: str) -> str:
    return node.kubectl("logs", name, "-c", "c").stdout


MODES = ('umask 0; stat -c "%a %u %g" /d /m; grep " /m " /proc/mounts | cut -d" " -f3; '
         'df /m | tail -1 | awk "{print \\$2}"; for v in d m; do echo hi > /$v/f; '
         'chmod 644 /$v/f; stat -c "%A %u" /$v/f; cat /$v/f; done; '
         'dd if=/dev/zero of=/m/big bs=1M count=11 2>&1 | grep -o "No space left on device"; true')


def test_empty_dir_modes_and_media(node: Node) -> None:
    """C1–C14 and N1: 0777 disk, 1777 tmpfs of exactly 10Mi, writes as uid 1001, ENOSPC."""
    volumes = [{"name": "d", "emptyDir": {}},
               {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "10Mi"}}]
    mounts = [{"name": "d", "mountPath": "/d"}, {"name": "m", "mountPath": "/m"}]
    create(node, pod_yaml("vol-modes", MODES, volumes, mounts, sc={"runAsUser": 1001}))
    try:
        wait_for(node, "vol-modes", ".status.phase", "Succeeded")
        assert logs(node, "vol-modes").splitlines() == [
            "777 0 0", "1777 0 0", "tmpfs", "10240", "-rw-r--r-- 1001", "hi",
            "-rw-r--r-- 1001", "hi", "No space left on device"]
    finally:
        delete(node, "vol-modes")


def test_fs_group(node: Node) -> None:
    """E1–E3: setgid roots owned by gid 123, new files group 123, subPath copies the root mode."""
    volumes = [{"name": "m", "emptyDir": {"medium": "Memory"}}, {"name": "d", "emptyDir": {}}]
    mounts = [{"name": "m", "mountPath": "/m"}, {"name": "d", "mountPath": "/d"},
              {"name": "m", "mountPath": "/s", "subPath": "test-sub"}]
    script = ('umask 0; stat -c "%A %u %g" /m /d /s; echo x > /m/f; chmod 660 /m/f; '
              'stat -c "%A %g" /m/f; id -G')
    create(node, pod_yaml("vol-fsgroup", script, volumes, mounts,
                          sc={"runAsUser": 1001, "fsGroup": 123, "supplementalGroups": [456]}))
    try:
        wait_for(node, "vol-fsgroup", ".status.phase", "Succeeded")
        assert logs(node, "vol-fsgroup").splitlines() == [
            "drwxrwsrwt 0 123", "drwxrwsrwx 0 123", "drwxrwsrwt 0 123", "-rw-rw---- 123",
            "0 123 456"]  # fsGroup joins the supplemental groups, as kubelet does
    finally:
        delete(node, "vol-fsgroup")


def init(script: str) -> dict:
    return {"name": "prep", "image": "busybox", "command": ["sh", "-c", script],
            "volumeMounts": [{"name": "v", "mountPath": "/v"}]}


@pytest.mark.parametrize("name,link,sub,env,part", [
    ("vol-door-root", "/", "door", {}, "failed to prepare subPath"),  # (a)
    ("vol-door-bin", "/bin", "door", {}, "failed to prepare subPath"),  # (b) S5
    ("vol-door-sh", "/bin/sh", "door", {}, "failed to prepare subPath"),  # (c) S6
    ("vol-door-none", "/bin/notanexistingpath", "door", {},
     "failed to create subPath directory"),  # (d) S7
    ("vol-door-up", "../", "door", {}, "failed to prepare subPath"),  # (e) S8
    ("vol-x2", "", "$(POD_NAME)", {"POD_NAME": ".."}, "must not contain '..'"),  # X2
    ("vol-x3", "", "$(POD_NAME)", {"POD_NAME": "/tmp"}, "must not be an absolute path"),  # X3
])
def test_sub_path_escapes_are_refused(node: Node, name: str, link: str, sub: str, env: dict,
                                      part: str) -> None:
    mount = {"name": "v", "mountPath": "/x", ("subPathExpr" if "$" in sub else "subPath"): sub}
    inits = [init(f"ln -s {link} /v/door")] if link else None
    create(node, pod_yaml(name, "ls /x; sleep 3600", [{"name": "v", "emptyDir": {}}], [mount],
                          inits=inits, env=env))
    try:
        path = ".status.containerStatuses[0].state.waiting.reason"
        wait_for(node, name, path, "CreateContainerConfigError", timeout=30)
        events = node.kubectl("get", "events", "--field-selector",
                              f"involvedObject.name={name},reason=Failed", "-o", "json").stdout
        message = json.loads(events)["items"][0]["message"]
        assert message.startswith("Error: ") and part in message, message
        assert "SubPath" in message or "subPath" in message, message
        assert get(node, name, ".status.phase") == "Pending"
    finally:
        delete(node, name)


def test_sub_path_positive(node: Node) -> None:
    """S1, S3, S14, X1 and (g): a new dir, a file, an expanded path and an in-volume symlink."""
    script = ("cat /file; cat /alias/x; test -d /whole/vol-sub/logs; echo $?; "
              "echo new > /new/f; cat /whole/made/f; cat /ro/x; "
              "touch /ro/y 2>&1 | grep -o 'Read-only file system'")
    mounts = [{"name": "v", "mountPath": "/whole"},
              {"name": "v", "mountPath": "/file", "subPath": "f"},
              {"name": "v", "mountPath": "/alias", "subPath": "alias"},
              {"name": "v", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)/logs"},
              {"name": "v", "mountPath": "/new", "subPath": "made"},
              {"name": "v", "mountPath": "/ro", "subPath": "real", "readOnly": True}]
    prep = init("echo file > /v/f; mkdir /v/real; echo in > /v/real/x; ln -s real /v/alias")
    create(node, pod_yaml("vol-sub", script, [{"name": "v", "emptyDir": {}}], mounts,
                          inits=[prep], env={"POD_NAME": "vol-sub"}))
    try:
        wait_for(node, "vol-sub", ".status.phase", "Succeeded")
        assert logs(node, "vol-sub").splitlines() == ["file", "in", "0", "new", "in",
                                                  "Read-only file system"]
    finally:
        delete(node, "vol-sub")


def test_eviction_on_size_limit(node: Node) -> None:
    """§2: writing 5 MiB into a 4Mi emptyDir evicts the Pod once, with kubelet's message; its
    containers are stopped (none of its processes remain) and their statuses say how they
    ended."""
    script = ("true evict-marker; i=0; while [ $i -lt 5 ]; do dd if=/dev/urandom of=/t/file$i "
              "bs=1048576 count=1 2>/dev/null; i=$((i+1)); done; while true; do sleep 5; done")
    volumes = [{"name": "test-volume", "emptyDir": {"sizeLimit": "4Mi"}}]
    create(node, pod_yaml("vol-evict", script, volumes,
                          [{"name": "test-volume", "mountPath": "/t"}], policy="Always"))
    try:
        wait_for(node, "vol-evict", ".status.phase", "Failed", timeout=40)
        status = json.loads(node.kubectl("get", "pod", "vol-evict", "-o", "json").stdout)["status"]
        message = 'Usage of EmptyDir volume "test-volume" exceeds the limit "4Mi". '
        assert (status["reason"], status["message"]) == ("Evicted", message)
        deadline = time.monotonic() + 40
        while marked_processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert marked_processes() == []
        wait_for(node, "vol-evict", ".status.containerStatuses[0].state.terminated.reason",
                 "Error", timeout=20)
        state = json.loads(node.kubectl("get", "pod", "vol-evict", "-o", "json").stdout)[
            "status"]["containerStatuses"][0]["state"]["terminated"]
        assert state["exitCode"] in (137, 143)
        time.sleep(6)  # another check period: still Failed, still one event
        assert get(node, "vol-evict", ".status.phase") == "Failed"
        events = node.kubectl("get", "events", "--field-selector",
                              "involvedObject.name=vol-evict,reason=Evicted", "-o", "json").stdout
        items = json.loads(events)["items"]
        assert [(e["type"], e["message"]) for e in items] == [("Warning", message)]
    finally:
        delete(node, "vol-evict")


def marked_processes() -> list[int]:
    """The processes whose command line carries the eviction test's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"evict-marker" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_memory_volume_removed_when_pod_succeeds(node: Node) -> None:
    """K1: the tmpfs and its directory go once the Pod is terminal, before any delete."""
    create(node, pod_yaml("vol-k1", "echo", [{"name": "memory-volume",
                                             "emptyDir": {"medium": "Memory"}}],
                          [{"name": "memory-volume", "mountPath": "/tmp"}]))
    try:
        wait_for(node, "vol-k1", ".status.phase", "Succeeded")
        uid = get(node, "vol-k1", ".metadata.uid")
        path = node.root / "pods" / uid / "volumes/kubernetes.io~empty-dir/memory-volume"
        deadline = time.monotonic() + 20
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not path.exists()
        assert str(path) not in Path("/proc/self/mountinfo").read_text()
    finally:
        delete(node, "vol-k1")


def test_restart_keeps_and_recreate_empties(node: Node) -> None:
    """A crash keeps the emptyDir's file; the same Pod name created again starts empty."""
    script = "if [ -f /d/f ]; then echo found; sleep 3600; else echo x > /d/f; exit 1; fi"
    manifest = pod_yaml("vol-crash", script, [{"name": "d", "emptyDir": {}}],
                        [{"name": "d", "mountPath": "/d"}], policy="OnFailure")
    create(node, manifest)
    try:
        wait_for(node, "vol-crash", ".status.containerStatuses[0].restartCount", "1", 60)
        node.wait_ready("vol-crash")
        assert logs(node, "vol-crash").strip() == "found"
        delete(node, "vol-crash")
        create(node, manifest)
        wait_for(node, "vol-crash", ".status.containerStatuses[0].lastState.terminated.exitCode",
                 "1", 60)
    finally:
        delete(node, "vol-crash")


def test_host_path(node: Node, tmp_path: Path) -> None:
    """hostPath: DirectoryOrCreate creates and shares; Directory on a missing path fails."""
    made, missing = tmp_path / "made", tmp_path / "missing"
    volumes = [{"name": "h", "hostPath": {"path": str(made), "type": "DirectoryOrCreate"}}]
    create(node, pod_yaml("vol-host", "echo from-pod > /h/f", volumes,
                          [{"name": "h", "mountPath": "/h"}]))
    volumes = [{"name": "h", "hostPath": {"path": str(missing), "type": "Directory"}}]
    create(node, pod_yaml("vol-host-bad", "true", volumes, [{"name": "h", "mountPath": "/h"}]))
    try:
        wait_for(node, "vol-host", ".status.phase", "Succeeded")
        assert (made / "f").read_text() == "from-pod\n"
        wait_for(node, "vol-host-bad", ".status.containerStatuses[0].state.waiting.reason",
                 "CreateContainerConfigError", timeout=30)
        events = node.kubectl("get", "events", "--field-selector",
                              "involvedObject.name=vol-host-bad,reason=Failed", "-o", "json").stdout
        assert json.loads(events)["items"][0]["message"] == (
            f'Error: MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
            f"{missing} is not a directory")
    finally:
        delete(node, "vol-host", "vol-host-bad")


def test_config_map_secret_downward_api(node: Node) -> None:
    """Projected files, read-only mounts, and a ConfigMap update reaching the running Pod."""
    node.kubectl("create", "configmap", "vol-cm", "--from-literal=greeting=hello")
    node.kubectl("create", "secret", "generic", "vol-secret", "--from-literal=pw=hunter2")
    volumes = [{"name": "cfg", "configMap": {"name": "vol-cm"}},
               {"name": "sec", "secret": {"secretName": "vol-secret", "defaultMode": 0o400}},
               {"name": "info", "downwardAPI": {"items": [
                   {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}]
    mounts = [{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"},
              {"name": "info", "mountPath": "/info"}]
    script = ('cat /cfg/greeting; echo; stat -L -c %a /sec/pw; cat /sec/pw; echo; cat /info/name; '
              'echo; touch /cfg/x 2>&1 | grep -o "Read-only file system"; sleep 3600')
    create(node, pod_yaml("vol-proj", script, volumes, mounts))
    try:
        node.wait_ready("vol-proj")
        deadline = time.monotonic() + 10
        while len(logs(node, "vol-proj").splitlines()) < 5 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert logs(node, "vol-proj").splitlines() == [
            "hello", "400", "hunter2", "vol-proj", "Read-only file system"]
        node.kubectl("patch", "configmap", "vol-cm", "-p", '{"data":{"greeting":"bonjour"}}')
        deadline = time.monotonic() + 20
        out = ""
        while out != "bonjour" and time.monotonic() < deadline:
            time.sleep(1)
            out = node.kubectl("exec", "vol-proj", "--", "cat", "/cfg/greeting").stdout
        assert out == "bonjour"
    finally:
        delete(node, "vol-proj")
        node.kubectl("delete", "configmap", "vol-cm", check=False)
        node.kubectl("delete", "secret", "vol-secret", check=False)


def test_metrics_report_empty_dir_usage(node: Node) -> None:
    """`kubectl get --raw /metrics` shows each emptyDir's usage and sizeLimit."""
    script = "dd if=/dev/zero of=/t/f bs=1048576 count=2 2>/dev/null; sleep 3600"
    volumes = [{"name": "scratch", "emptyDir": {"sizeLimit": "10Mi"}}]
    create(node, pod_yaml("vol-metrics", script, volumes,
                          [{"name": "scratch", "mountPath": "/t"}], policy="Always"))
    try:
        wait_for(node, "vol-metrics", ".status.phase", "Running")
        uid = get(node, "vol-metrics", ".metadata.uid")
        labels = f'{{namespace="default",pod="vol-metrics",uid="{uid}",volume="scratch"}}'
        used = 0
        deadline = time.monotonic() + 20
        while used < 2 * 1048576 and time.monotonic() < deadline:
            text = node.kubectl("get", "--raw", "/metrics").stdout
            values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                          if line and not line.startswith("#"))
            used = int(values.get(f"podhost_emptydir_used_bytes{labels}", "0"))
            time.sleep(0.5)
        assert used >= 2 * 1048576
        assert values[f"podhost_emptydir_limit_bytes{labels}"] == str(10 * 1048576)
        assert "# TYPE podhost_emptydir_used_bytes gauge" in text
    finally:
        delete(node, "vol-metrics")


def expansion_pod(name: str, command: str) -> str:
    """X4/X5: subPathExpr from a downward API annotation that does not exist yet."""
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "ANNOTATION", "valueFrom": {"fieldRef": {
               "fieldPath": "metadata.annotations['mysubpath']"}}}]
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", command], "env": env,
                 "volumeMounts": [{"name": "workdir1", "mountPath": "/subpath_mount",
                                   "subPathExpr": "$(ANNOTATION)/$(POD_NAME)"},
                                  {"name": "workdir1", "mountPath": "/volume_mount"}]}
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "annotations": {"notmysubpath": "mypath"}},
                       "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                                "containers": [container],
                                "volumes": [{"name": "workdir1", "emptyDir": {}}]}})


def test_failing_sub_path_expansion_can_be_fixed(node: Node) -> None:
    """X4 and X5: no Running while $(ANNOTATION) is empty (the expansion is an absolute path);
    once the annotation is added the node retries with the new env, and the container writes
    through the subPath into the shared volume; changing the annotation later breaks nothing."""
    name = "vol-x4"
    create(node, expansion_pod(name, "touch /volume_mount/mypath/vol-x4/x5; "
                                     "test -f /subpath_mount/x5 && sleep 3600"))
    try:
        wait_for(node, name, ".status.containerStatuses[0].state.waiting.reason",
                 "CreateContainerConfigError", timeout=30)
        time.sleep(2)
        assert get(node, name, ".status.phase") == "Pending"
        node.kubectl("annotate", "pod", name, "mysubpath=mypath")
        wait_for(node, name, ".status.phase", "Running", timeout=40)
        time.sleep(2)  # the `test -f` ran: a failure would have ended the container
        assert get(node, name, ".status.containerStatuses[0].state.running.startedAt")
        node.kubectl("annotate", "pod", name, "mysubpath=mynewpath", "--overwrite")
        time.sleep(3)
        assert get(node, name, ".status.phase") == "Running"
        assert get(node, name, ".status.containerStatuses[0].restartCount") == "0"
    finally:
        delete(node, name)


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_restarting_container_with_sub_path(node: Node, kind: str) -> None:
    """S10/S11: a liveness probe reads a file through a subPath; the other container removes
    it, so the first is restarted (the subPath mounted again); once the file is back it stays
    up: the emptyDir is shared and outlives the restart."""
    name = f"vol-s1{'0' if kind == 'directory' else '1'}"
    if kind == "directory":
        mount = {"name": "v", "mountPath": "/probe-volume", "subPath": "sub"}
        probe_file, prep = "/probe-volume/probe-file", "mkdir -p /v/sub; echo ok > /v/sub/probe-file"
        other_file = "/v/sub/probe-file"
    else:
        mount = {"name": "v", "mountPath": "/probe-file", "subPath": "probe-file"}
        probe_file, prep = "/probe-file", "echo ok > /v/probe-file"
        other_file = "/v/probe-file"
    probed = {"name": "probed", "image": "busybox", "command": ["sleep", "3600"],
              "volumeMounts": [mount],
              "livenessProbe": {"exec": {"command": ["sh", "-c", f"test -s {probe_file}"]},
                                "periodSeconds": 1, "failureThreshold": 1}}
    # the other container empties the file (a file subPath must keep its inode)
    other = {"name": "other", "image": "busybox", "command": ["sh", "-c",
             f"sleep 2; : > {other_file}; sleep 3600"],
             "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    spec = {"terminationGracePeriodSeconds": 1, "initContainers": [init(prep)],
            "containers": [probed, other], "volumes": [{"name": "v", "emptyDir": {}}]}
    create(node, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                             "spec": spec}))
    status = '.status.containerStatuses[?(@.name=="probed")]'
    try:
        deadline = time.monotonic() + 60
        while int(get(node, name, f"{status}.restartCount") or 0) == 0:
            assert time.monotonic() < deadline, "the probed container was never restarted"
            time.sleep(0.5)
        node.kubectl("exec", name, "-c", "other", "--", "sh", "-c",
                     f"echo test-after > {other_file}")
        assert stays_running(node, name, status, stable_for=6)
        out = node.kubectl("exec", name, "-c", "probed", "--", "cat", probe_file).stdout
        assert out == "test-after\n"
    finally:
        delete(node, name)


def stays_running(node: Node, name: str, status: str, stable_for: float,
                  timeout: float = 60) -> bool:
    """The container runs with an unchanged restartCount for stable_for seconds (a restart
    that was waiting out its back-off may still happen first)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        count = get(node, name, f"{status}.restartCount")
        if count != last or not get(node, name, f"{status}.state.running.startedAt"):
            last, since = count, now
        elif now - since >= stable_for:
            return True
        time.sleep(0.5)
    return False


def test_unmount_after_sub_path_directory_deleted(node: Node) -> None:
    """S18: the subPath directory is removed by another container while mounted; deleting the
    Pod still completes and leaves no mount behind."""
    name = "vol-s18"
    subject = {"name": "c", "image": "busybox", "command": ["sleep", "3600"],
               "volumeMounts": [{"name": "v", "mountPath": "/sub", "subPath": "dir"}]}
    remover = {"name": "rm", "image": "busybox",
               "command": ["sh", "-c", "sleep 1; rm -r /v/dir; sleep 3600"],
               "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    spec = {"terminationGracePeriodSeconds": 1, "initContainers": [init("mkdir /v/dir")],
            "containers": [subject, remover], "volumes": [{"name": "v", "emptyDir": {}}]}
    create(node, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                             "spec": spec}))
    try:
        wait_for(node, name, ".status.phase", "Running")
        uid = get(node, name, ".metadata.uid")
        time.sleep(2)
        node.kubectl("delete", "pod", name, "--timeout=60s", timeout=70)
        assert uid not in Path("/proc/self/mountinfo").read_text()
        assert not (node.root / "pods" / uid).exists()
    finally:
        delete(node, name)


@pytest.fixture
def shared_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A directory that is a shared mount point (as /var/lib/kubelet is on a systemd host)."""
    import subprocess
    base = tmp_path / "shared"
    base.mkdir()
    subprocess.run(["mount", "--bind", str(base), str(base)], check=True)
    subprocess.run(["mount", "--make-rshared", str(base)], check=True)
    try:
        yield base
    finally:
        subprocess.run(["umount", "-R", "-l", str(base)], check=False)


def test_mount_propagation(node: Node, shared_dir: Path, tmp_path: Path) -> None:
    """HostToContainer sees host mounts made later, Bidirectional (privileged) gives the host
    the container's mounts, None sees neither; a source that cannot propagate is refused with
    CRI-O's text."""
    import subprocess
    host = [{"name": "h", "hostPath": {"path": str(shared_dir)}}]
    create(node, pod_yaml("prop-h2c", "sleep 3600", host,
                          [{"name": "h", "mountPath": "/h", "mountPropagation": "HostToContainer"}]))
    create(node, pod_yaml("prop-none", "sleep 3600", host, [{"name": "h", "mountPath": "/h"}]))
    bidi = json.loads(pod_yaml(
        "prop-bidi", "mkdir -p /h/from-pod && mount -t tmpfs tmpfs /h/from-pod && "
        "echo from-pod > /h/from-pod/f && sleep 3600", host,
        [{"name": "h", "mountPath": "/h", "mountPropagation": "Bidirectional"}]))
    bidi["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    create(node, json.dumps(bidi))
    private = [{"name": "h", "hostPath": {"path": str(tmp_path)}}]  # under the private /
    create(node, pod_yaml("prop-private", "sleep 3600", private,
                          [{"name": "h", "mountPath": "/h", "mountPropagation": "HostToContainer"}]))
    try:
        for name in ("prop-h2c", "prop-none", "prop-bidi"):
            node.wait_ready(name, 60)
        (shared_dir / "later").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                        str(shared_dir / "later")], check=True)
        (shared_dir / "later" / "f").write_text("from-host\n")
        seen = node.kubectl("exec", "prop-h2c", "--", "cat", "/h/later/f").stdout
        assert seen == "from-host\n"
        unseen = node.kubectl("exec", "prop-none", "--", "ls", "/h/later", check=False)
        assert unseen.stdout == ""  # the directory, not the tmpfs mounted on it later
        deadline = time.monotonic() + 10
        while not (shared_dir / "from-pod" / "f").exists():
            assert time.monotonic() < deadline, "the Pod's mount did not reach the host"
            time.sleep(0.1)
        assert (shared_dir / "from-pod" / "f").read_text() == "from-pod\n"
        wait_for(node, "prop-private", ".status.containerStatuses[0].state.waiting.reason",
                 "CreateContainerError", timeout=30)
        assert get(node, "prop-private", ".status.containerStatuses[0].state.waiting.message") \
            == f'path "{tmp_path}" is mounted on "/" but it is not a shared or slave mount'
    finally:
        delete(node, "prop-h2c", "prop-none", "prop-bidi", "prop-private")
