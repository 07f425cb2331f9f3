"""`kill -9` of `podhost serve` at awkward moments, then a restart: running containers are
adopted (not restarted, not duplicated), exits that happened meanwhile are recorded, deletes in
flight finish, emptyDir data survives and nothing of a deleted Pod leaks (issue 6)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e


def pod(name: str, command: str, grace: int = 1) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": grace,
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [{"name": "app", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", command],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})


def crash(node: Node, root: Path) -> Node:
    """SIGKILL podhost serve (conmon and containers live on), then start it again."""
    node.process.send_signal(signal.SIGKILL)
    node.process.wait()
    return start_node(root)


def status(node: Node, name: str) -> dict[str, Any]:
    out = node.kubectl("get", "pod", name, "-o", "json")
    return dict(json.loads(out.stdout)["status"])


def wait_for(check: Any, timeout: float = 30, what: str = "") -> Any:
    """Poll until `check` returns something true; a failing check (kubectl's error, a Pod not
    found) is never success, only a reason to look again."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as e:
            last = f"error: {e}"
            time.sleep(0.2)
            continue
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def app_status(node: Node, name: str) -> dict[str, Any]:
    return dict(status(node, name).get("containerStatuses", [{}])[0])


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture
def crash_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    root = tmp_path_factory.mktemp("crash") / "root"
    n = start_node(root)
    n.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
    holder = [n]
    try:
        yield holder
    finally:
        n = holder[0]
        if n.process.poll() is not None:  # a failed test may leave it killed
            n = start_node(root)
        n.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=true",
                  check=False)
        # a forced delete returns at once: give the node the time to clean up (after a failed
        # test, nothing of it may outlive the temporary root)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (entries(root / "runtime" / "containers") or
                                               entries(root / "pods")):
            time.sleep(0.2)
        stop_node(n)


def test_kill_9_during_creates_and_deletes(crash_node: list[Node]) -> None:
    node = crash_node[0]
    root = node.root
    # round 1: a running writer keeps its container and its emptyDir file over a crash
    node.kubectl("apply", "-f", "-", input=pod("keeper", "echo precious > /data/file; "
                                                "sleep 3600"))
    node.wait_ready("keeper", 30)
    before = app_status(node, "keeper")
    node = crash_node[0] = crash(node, root)
    # round 2: crash right after a create, and while a container is about to exit
    node.kubectl("apply", "-f", "-", input=pod("fresh", "sleep 3600"))
    node.kubectl("apply", "-f", "-", input=pod("quitter", "sleep 1; exit 2"))
    time.sleep(0.3)
    node = crash_node[0] = crash(node, root)
    node.wait_ready("fresh", 30)
    wait_for(lambda: app_status(node, "quitter").get("restartCount", 0) >= 1, 30,
             "the exit that happened while the node was down")
    after = app_status(node, "keeper")
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert node.kubectl("exec", "keeper", "--", "cat", "/data/file").stdout == "precious\n"
    fresh = app_status(node, "fresh")
    assert fresh["restartCount"] == 0
    containers = root / "runtime" / "containers"
    fresh_cid = fresh["containerID"].split("//")[1]
    assert len(Procs().conmons_of(fresh_cid)) == 1  # one conmon for it, never two
    # round 3: crash while a graceful delete is stopping a Pod (sh ignores SIGTERM: 2 s)
    keeper_uid = node.kubectl("get", "pod", "keeper", "-o",
                              "jsonpath={.metadata.uid}").stdout
    keeper_cid = after["containerID"].split("//")[1]
    node.kubectl("delete", "pod", "keeper", "--wait=false")
    time.sleep(0.5)
    node = crash_node[0] = crash(node, root)
    node.kubectl("wait", "--for=delete", "pod/keeper", "--timeout=30s", timeout=40)
    assert not (root / "pods" / keeper_uid).exists()
    assert not [m for m in mounts_under(root) if keeper_uid in m]
    assert not processes_with(keeper_cid)
    assert not (containers / keeper_cid).exists()
    assert not [p for p in (root / "logs").iterdir() if p.name.endswith(keeper_uid)]
    # rounds of crashes at different moments of creates and deletes
    for i, delay in enumerate((0.0, 0.1, 0.25, 0.6)):
        node.kubectl("apply", "-f", "-", input=pod(f"churn-{i}", "echo $HOSTNAME > "
                                                    "/data/me; sleep 3600"))
        time.sleep(delay)
        node = crash_node[0] = crash(node, root)
        node.wait_ready(f"churn-{i}", 30)
        cid = app_status(node, f"churn-{i}")["containerID"].split("//")[1]
        assert len(Procs().conmons_of(cid)) == 1
        assert app_status(node, f"churn-{i}")["restartCount"] == 0
        node.kubectl("delete", "pod", f"churn-{i}", "--wait=false")
        time.sleep(delay)
        node = crash_node[0] = crash(node, root)
        node.kubectl("wait", "--for=delete", f"pod/churn-{i}", "--timeout=30s", timeout=40)
        assert not processes_with(cid)
    assert node.kubectl("exec", "fresh", "--", "ls", "/data").returncode == 0
    # finally everything goes, and nothing is left behind
    node.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=true")
    wait_for(lambda: not list((root / "pods").iterdir()) and not list(containers.iterdir()),
             20, "cleanup")
    assert not [m for m in mounts_under(root) if "/pods/" in m or "/overlay/" in m]
    assert not processes_with(str(containers))


# -- issue 6: 50 rounds --------------------------------------------------------------------

DELAYS = (0.0, 0.05, 0.1, 0.25, 0.5)
ROUNDS = 50


def churn_pod(name: str, command: str, restart: str = "Always", grace: int = 1) -> str:
    obj = json.loads(pod(name, command, grace))
    obj["spec"]["restartPolicy"] = restart
    return json.dumps(obj)


def cid_of(cs: dict[str, Any]) -> str | None:
    cid = cs.get("containerID") or ""
    return cid.split("//", 1)[1] if "//" in cid else None


class Procs:
    """One look at every process: its command line and its cgroups."""

    def __init__(self) -> None:
        self.cmdline: dict[int, bytes] = {}
        self.cgroup: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        self.cmdline[int(entry)] = f.read()
                    with open(f"/proc/{entry}/cgroup") as f:
                        self.cgroup[int(entry)] = f.read()
                except OSError:
                    pass

    def with_text(self, text: str) -> list[int]:
        return [pid for pid, cmd in self.cmdline.items() if text.encode() in cmd]

    def conmons_of(self, cid: str) -> list[int]:
        """conmon processes monitoring container cid (runc create/exec name it too, briefly)."""
        return [pid for pid in self.with_text(cid)
                if self.cmdline[pid].split(b"\0", 1)[0].endswith(b"conmon")]

    def in_cgroup(self, cid: str) -> list[int]:
        """Processes in the container's cgroup (a leaked `runc init` has no conmon)."""
        return [pid for pid, cg in self.cgroup.items() if cid in cg]


def entries(path: Path) -> set[str]:
    try:
        return {p.name for p in path.iterdir()}
    except FileNotFoundError:
        return set()


class Crashes:
    """The Pods of the 50 rounds, what the test expects of each, and the checks after a crash."""

    def __init__(self, holder: list[Node]) -> None:
        self.holder = holder
        self.root = holder[0].root
        self.uids: dict[str, str] = {}  # every Pod ever made: name -> uid
        self.running: dict[str, str | None] = {}  # long-lived Pods -> containerID once seen
        self.quitters: dict[str, str | None] = {}  # restartPolicy Never, exit 3 -> containerID
        self.deleting: set[str] = set()  # asked to go, not yet checked gone
        self.cids: set[str] = set()  # every container id ever seen
        self.files: dict[str, Path] = {}  # a file each running Pod wrote in its emptyDir
        self.clean: set[str] = set()  # uids and container ids seen gone without a trace
        self.conmons: dict[str, int] = {}  # running Pod -> pid of its container's conmon

    @property
    def node(self) -> Node:
        return self.holder[0]

    def create(self, name: str, manifest: str) -> None:
        self.node.kubectl("apply", "-f", "-", input=manifest)

    def crash(self) -> None:
        self.holder[0] = crash(self.node, self.root)

    def pods(self) -> dict[str, dict[str, Any]]:
        out = self.node.kubectl("get", "pods", "-o", "json")
        return {p["metadata"]["name"]: p for p in json.loads(out.stdout)["items"]}

    def empty_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / "data"

    def leftovers(self, uids: set[str], cids: set[str]) -> list[str]:
        """What is left of deleted Pods (by uid) and removed containers (by id)."""
        procs, mounts = Procs(), mounts_under(self.root)
        left = []
        for uid in uids:
            left += [f"mount {m}" for m in mounts if uid in m]
            left += [f"process {p} of {uid}" for p in procs.with_text(uid)]
            left += [f"dir pods/{uid}"] if (self.root / "pods" / uid).exists() else []
            left += [f"logs/{p.name}" for p in (self.root / "logs").glob(f"*_{uid}")]
            veth = "veth" + hashlib.sha256(uid.encode()).hexdigest()[:11]  # network.host_ifname
            left += [f"link {veth}"] if Path("/sys/class/net", veth).exists() else []
        for cid in cids:
            left += [f"process {p} of {cid[:12]}" for p in procs.with_text(cid)]
            left += [f"process {p} in cgroup {cid[:12]}" for p in procs.in_cgroup(cid)]
            left += [f"mount {m}" for m in mounts if cid in m]
            for d in ("runtime/containers", "runtime/runc", "runtime/exits", "overlay"):
                if (self.root / d / cid).exists():
                    left.append(f"{d}/{cid[:12]}")
        return left

    def settled(self) -> str:
        """'' once the node has recovered as expected; else what is not (yet) right."""
        pods = self.pods()
        for name in self.deleting:
            if name in pods:
                return f"{name} not deleted yet"
        live_cids: set[str] = set()
        for name, known in [*self.running.items(), *self.quitters.items()]:
            if name not in pods:
                return f"{name} lost"
            statuses = pods[name].get("status", {}).get("containerStatuses") or []
            if not statuses:
                return f"{name} has no container status"
            cs = statuses[0]
            cid = cid_of(cs)
            if cid is None:
                return f"{name} has no container yet: {cs}"
            assert known is None or cid == known, f"{name} got a new container: {known} -> {cid}"
            assert cs.get("restartCount", 0) == 0, f"{name} restarted: {cs}"
            if name in self.running:
                if "running" not in cs.get("state", {}) or not cs.get("ready"):
                    return f"{name} not running: {cs}"
            else:
                term = cs.get("state", {}).get("terminated")
                if not term:
                    return f"{name} not terminated yet: {cs}"
                assert term["exitCode"] == 3, f"{name} lost its exit code: {cs}"
            live_cids.add(cid)
        procs = Procs()
        for name, cid in self.running.items():  # one conmon per container, never two
            cid = cid or cid_of(pods[name]["status"]["containerStatuses"][0]) or ""
            conmons = procs.conmons_of(cid)
            if len(conmons) != 1:
                return f"{name}: conmons {conmons} for {cid[:12]}"
            # the very same conmon as before the crash: the container was never made again
            # (a check that a status written before the crash cannot pass for)
            before = self.conmons.setdefault(name, conmons[0])
            assert conmons[0] == before, f"{name}: conmon {before} replaced by {conmons[0]}"
        on_disk = entries(self.root / "runtime" / "containers")
        if on_disk != live_cids:
            return f"containers on disk {sorted(on_disk)} != {sorted(live_cids)}"
        overlays = entries(self.root / "overlay")
        if overlays - live_cids:
            return f"stray overlays {sorted(overlays - live_cids)}"
        known_uids = {pods[n]["metadata"]["uid"] for n in pods}
        strays = entries(self.root / "pods") - known_uids
        if strays:
            return f"stray pod dirs {sorted(strays)}"
        gone = {uid for uid in self.uids.values() if uid not in known_uids} - self.clean
        left = self.leftovers(gone, self.cids - live_cids - self.clean)
        if left:
            return f"deleted Pods left {left}"
        self.clean |= gone | (self.cids - live_cids)
        return ""

    def check(self, what: str) -> None:
        deadline = time.monotonic() + 45
        problem = "?"
        while time.monotonic() < deadline:
            problem = self.settled()
            if not problem:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"{what}: {problem}\n{self.node.log.read_text()[-3000:]}")
        pods = self.pods()
        for name in list(self.deleting):
            self.deleting.discard(name)
        for table in (self.running, self.quitters):
            for name in table:
                cs = pods[name]["status"]["containerStatuses"][0]
                table[name] = cid_of(cs)
                self.cids.add(table[name] or "")
                self.uids[name] = pods[name]["metadata"]["uid"]
        self.cids.discard("")
        for name, uid in self.uids.items():
            if name in self.running and name not in self.files:
                path = self.files[name] = self.empty_dir(uid) / "me"
                wait_for(path.exists, 10, f"{path} (written when the container starts)")
        for name, path in self.files.items():
            assert path.read_text() == f"{name}\n", f"{name} lost {path}"
        # uids of Pods deleted before they were ever seen: remember them for the leak checks
        for name in pods:
            self.uids.setdefault(name, pods[name]["metadata"]["uid"])

    def remember_uid(self, name: str) -> None:
        out = self.node.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}",
                                check=False)
        if out.returncode == 0 and out.stdout:
            self.uids[name] = out.stdout


def test_kill_9_fifty_rounds(crash_node: list[Node]) -> None:
    """Issue 6: 50 rounds of kill -9 of the node at varied moments of creates, deletes and
    container exits; after each: containers adopted (same id, no restart, one conmon each),
    exits recorded, emptyDir files kept, deleted Pods leave nothing. Then all goes, nothing left.
    """
    c = Crashes(crash_node)
    root = c.root
    c.create("keeper", churn_pod("keeper", "echo keeper > /data/me; sleep 3600"))
    c.running["keeper"] = None
    c.check("keeper")
    keeper_cid = c.running["keeper"]
    serial = 0
    started = time.monotonic()

    def long_lived() -> str:
        nonlocal serial
        serial += 1
        name = f"live-{serial}"
        c.create(name, churn_pod(name, f"echo {name} > /data/me; sleep 3600"))
        c.running[name] = None
        c.remember_uid(name)
        return name

    def oldest_churn() -> str | None:
        names = [n for n in c.running if n != "keeper"]
        return names[0] if names else None

    for i in range(ROUNDS):
        kind, delay = i % 5, DELAYS[(i // 5) % len(DELAYS)]
        if kind == 0:  # kill during (or right after) creates
            long_lived()
            long_lived()
        elif kind in (1, 4):  # kill during a graceful (sh ignores SIGTERM) or forced delete
            victim = oldest_churn()
            if victim is None:
                long_lived()
            else:
                del c.running[victim]
                c.files.pop(victim, None)
                c.deleting.add(victim)
                force = ["--grace-period=0", "--force"] if kind == 4 else []
                c.node.kubectl("delete", "pod", victim, "--wait=false", *force)
        elif kind == 2:  # kill while a container exits (it ends 0.2 s after it starts)
            serial += 1
            name = f"quit-{serial}"
            c.create(name, churn_pod(name, "sleep 0.2; exit 3", restart="Never"))
            c.quitters[name] = None
            c.remember_uid(name)
        else:  # kill while a Pod is created and deleted at once, and an exited one goes
            serial += 1
            name = f"gone-{serial}"
            c.create(name, churn_pod(name, "sleep 3600"))
            c.remember_uid(name)
            c.node.kubectl("delete", "pod", name, "--wait=false")
            c.deleting.add(name)
            if c.quitters:
                old = next(iter(c.quitters))
                del c.quitters[old]
                c.deleting.add(old)
                c.node.kubectl("delete", "pod", old, "--wait=false")
        time.sleep(delay)
        c.crash()
        c.check(f"round {i + 1} (kind {kind}, delay {delay})")
        print(f"round {i + 1} kind {kind} delay {delay}: {time.monotonic() - started:.1f}s")
        assert c.running["keeper"] == keeper_cid
    time.sleep(1)  # what the last restart might still do wrong, it has done by now
    c.check("after the last round")
    assert c.node.kubectl("exec", "keeper", "--", "cat", "/data/me").stdout == "keeper\n"
    # finally everything goes, and nothing is left behind
    c.node.kubectl("delete", "pods", "--all", "--wait=false")
    c.deleting |= set(c.running) | set(c.quitters)
    c.running.clear()
    c.quitters.clear()
    c.files.clear()
    c.crash()  # once more, while they go
    c.check("final delete")
    containers = root / "runtime" / "containers"
    assert not entries(root / "pods") and not entries(containers)
    assert not entries(root / "overlay") and not entries(root / "logs")
    assert not entries(root / "runtime" / "runc")
    assert not mounts_under(root)
    assert not [p for p in processes_with(str(root)) if p != c.node.process.pid]
    assert not c.leftovers(set(c.uids.values()), c.cids)


def test_stopping_the_node_right_after_a_delete_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM of `podhost serve` just after a forced delete: the node finishes tearing the
    Pod down before it exits (running Pods stay, for the next start to adopt)."""
    root = tmp_path / "root"
    node = start_node(root)
    try:
        node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
        for name in ("goes", "stays"):
            node.kubectl("apply", "-f", "-", input=pod(name, "echo hi > /data/f; sleep 3600"))
        node.wait_ready("goes", 30)
        node.wait_ready("stays", 30)
        uid = node.kubectl("get", "pod", "goes", "-o", "jsonpath={.metadata.uid}").stdout
        cid = app_status(node, "goes")["containerID"].split("//")[1]
        node.kubectl("delete", "pod", "goes", "--grace-period=0", "--force", "--wait=false")
        stop_node(node)  # at once: the delete is still being carried out
        assert not [m for m in mounts_under(root) if uid in m]
        assert not (root / "pods" / uid).exists()
        assert not processes_with(cid)
        node = start_node(root)  # the other Pod was left running and is adopted
        assert node.kubectl("exec", "stays", "--", "cat", "/data/f").stdout == "hi\n"
    finally:
        if node.process.poll() is not None:
            node = start_node(root)
        node.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=true",
                     check=False)
        stop_node(node)


def test_readiness_is_probed_again_after_a_restart(crash_node: list[Node]) -> None:
    """An adopted container is not Ready until its readiness probe passes again: a Pod whose
    probe fails when the node is killed stays NotReady after the restart (and becomes Ready
    once the probe passes)."""
    node = crash_node[0]
    manifest = json.loads(pod("probed", "touch /data/ready; sleep 3600"))
    manifest["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["test", "-f", "/data/ready"]}, "periodSeconds": 1,
        "failureThreshold": 1}
    node.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    wait_for(lambda: app_status(node, "probed").get("ready"), what="ready")
    node.kubectl("exec", "probed", "--", "rm", "/data/ready")
    wait_for(lambda: app_status(node, "probed").get("ready") is False, what="not ready")
    node = crash_node[0] = crash(node, node.root)
    time.sleep(3)  # the adopted container's status is published and probed meanwhile
    assert app_status(node, "probed").get("ready") is False
    node.kubectl("exec", "probed", "--", "touch", "/data/ready")
    wait_for(lambda: app_status(node, "probed").get("ready"), what="ready again")
