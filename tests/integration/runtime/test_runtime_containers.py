"""Container lifecycle against real runc + conmon: create, start, state, exit files, logs, stop,
delete, failure cleanup, OOM, re-adoption."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from podhost.runtime.errors import ConmonStartError, ContainerNotFoundError
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig, Mount
from tests.integration.runtime.runtime_helpers import (
    cgroup_dirs,
    integration_marks,
    processes_mentioning,
)

pytestmark = integration_marks()

CRI_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] ")


def assert_gone(rt: Runtime, container_id: str) -> None:
    assert not rt.bundle_dir(container_id).exists()
    assert container_id not in rt.list()
    assert container_id not in rt.exited()
    assert not rt.exit_file(container_id).exists()
    assert not processes_mentioning(container_id)
    assert not cgroup_dirs(container_id)
    assert not list(rt.runc_root.iterdir())


def test_exit_code_log_and_bind_mount(runtime: Runtime, make_config: Callable[..., ContainerConfig],
                                      host_dir: Path) -> None:
    cfg = make_config(["sh", "-c", "echo hello; echo oops >&2; echo data > /host/out; exit 3"],
                      mounts=(Mount("/host", str(host_dir)),), labels={"app": "t"})

    async def scenario() -> None:
        await runtime.create(cfg)
        created = await runtime.state(cfg.id)
        assert created.status == "created"
        assert created.pid == runtime.pid(cfg.id) and created.pid is not None
        assert Path(f"/proc/{created.pid}/ns/net").exists()
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 10)
        state = await runtime.state(cfg.id)
        assert state.status == "stopped"
        assert state.exit_code == 3
        assert not state.oom_killed
        assert state.created_at and state.started_at and state.finished_at
        assert state.created_at <= state.started_at <= state.finished_at + 0.05
        assert runtime.exited()[cfg.id] == 3
        assert runtime.metadata(cfg.id)["labels"] == {"app": "t"}
        assert runtime.list() == [cfg.id]
        await runtime.delete(cfg.id)

    asyncio.run(scenario())
    assert (host_dir / "out").read_text() == "data\n"
    lines = cfg.log_path.read_text().splitlines()
    assert all(CRI_LINE.match(line) for line in lines), lines
    assert [line.split(" ", 1)[1] for line in lines] == ["stdout F hello", "stderr F oops"] or \
        sorted(line.split(" ", 1)[1] for line in lines) == ["stderr F oops", "stdout F hello"]
    assert_gone(runtime, cfg.id)


def test_stop_with_sigterm(runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", 'trap "exit 0" TERM; while :; do sleep 0.05; done'])

    async def scenario() -> float:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert (await runtime.state(cfg.id)).status == "running"
        await asyncio.sleep(0.1)
        began = time.monotonic()
        await runtime.stop(cfg.id, timeout=10)
        elapsed = time.monotonic() - began
        state = await runtime.state(cfg.id)
        assert state.status == "stopped" and state.exit_code == 0
        await runtime.stop(cfg.id, timeout=10)  # already stopped: no-op
        return elapsed

    assert asyncio.run(scenario()) < 2


def test_stop_escalates_to_sigkill(runtime: Runtime,
                                  make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", 'trap "" TERM; while :; do sleep 0.05; done'])

    async def scenario() -> float:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        await asyncio.sleep(0.1)
        began = time.monotonic()
        await runtime.stop(cfg.id, timeout=0.5)
        elapsed = time.monotonic() - began
        assert (await runtime.state(cfg.id)).exit_code == 137
        return elapsed

    assert 0.5 <= asyncio.run(scenario()) < 5


def test_stop_created_container(runtime: Runtime,
                                make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sleep", "100"])

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.stop(cfg.id, timeout=5)
        assert (await runtime.state(cfg.id)).status == "stopped"
        await runtime.delete(cfg.id)

    asyncio.run(scenario())
    assert_gone(runtime, cfg.id)


def test_kill_with_signal(runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", 'trap "exit 42" USR1; while :; do sleep 0.05; done'])

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        await asyncio.sleep(0.1)
        await runtime.kill(cfg.id, "SIGUSR1")
        assert await runtime.wait_exit(cfg.id, 5)
        assert (await runtime.state(cfg.id)).exit_code == 42

    asyncio.run(scenario())


def test_delete_running_container_leaves_nothing(
        runtime: Runtime, make_config: Callable[..., ContainerConfig], tmp_path: Path) -> None:
    cfg = make_config(["sleep", "1000"])

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert processes_mentioning(cfg.id)  # conmon
        assert cgroup_dirs(cfg.id)
        await runtime.delete(cfg.id)
        await runtime.delete(cfg.id)  # idempotent
        with pytest.raises(ContainerNotFoundError):
            await runtime.state(cfg.id)
        with pytest.raises(ContainerNotFoundError):
            await runtime.start(cfg.id)

    asyncio.run(scenario())
    assert_gone(runtime, cfg.id)
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert str(tmp_path) not in mountinfo


def test_create_failure_is_reported_and_cleaned_up(
        runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["/no/such/program"])

    async def scenario() -> None:
        with pytest.raises(ConmonStartError) as info:
            await runtime.create(cfg)
        assert "/no/such/program" in str(info.value)

    asyncio.run(scenario())
    assert_gone(runtime, cfg.id)


def test_duplicate_create_is_refused(runtime: Runtime,
                                     make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sleep", "100"])

    async def scenario() -> None:
        await runtime.create(cfg)
        with pytest.raises(Exception, match="already exists"):
            await runtime.create(cfg)
        assert (await runtime.state(cfg.id)).status == "created"

    asyncio.run(scenario())


def test_oom_killed(runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", "tail /dev/zero"], memory_limit=16 << 20)

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 30)
        state = await runtime.state(cfg.id)
        assert state.exit_code == 137
        assert state.oom_killed

    asyncio.run(scenario())


def test_restarted_runtime_readopts_containers(
        runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sleep", "1000"], annotations={"io.kubernetes.pod.uid": "u1"})

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        again = Runtime(runtime.state_dir)
        assert again.list() == [cfg.id]
        assert again.metadata(cfg.id)["annotations"] == {"io.kubernetes.pod.uid": "u1"}
        assert again.metadata(cfg.id)["log_path"] == str(cfg.log_path)
        state = await again.state(cfg.id)
        assert state.status == "running" and state.pid == runtime.pid(cfg.id)
        await again.stop(cfg.id, timeout=0.2)
        assert again.exited() == {cfg.id: 137}

    asyncio.run(scenario())


def test_security_defaults_apply(runtime: Runtime, make_config: Callable[..., ContainerConfig],
                                 host_dir: Path) -> None:
    script = ("grep Cap /proc/self/status > /host/caps;"
              " grep Seccomp: /proc/self/status > /host/sc;"
              " ulimit -n > /host/nofile; wc -c < /proc/timer_list > /host/masked;"
              " hostname > /host/hostname; mkdir /tmp/m; mount -t tmpfs none /tmp/m 2> /host/mount;"
              " echo $? >> /host/mount; echo 1 > /proc/sys/kernel/domainname; echo $? > /host/ro")
    cfg = make_config(["sh", "-c", script], hostname="pod-a",
                      mounts=(Mount("/host", str(host_dir)),))

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 10)

    asyncio.run(scenario())
    caps = dict(line.split(":\t") for line in (host_dir / "caps").read_text().splitlines())
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == "00000000a80425fb"
    assert caps["CapInh"] == caps["CapAmb"] == "0000000000000000"
    assert (host_dir / "sc").read_text().split() == ["Seccomp:", "2"]
    assert int((host_dir / "nofile").read_text()) <= 1048576
    if Path("/proc/timer_list").exists():
        assert (host_dir / "masked").read_text().strip() == "0"  # masked: /dev/null bound on it
    assert (host_dir / "hostname").read_text() == "pod-a\n"
    assert (host_dir / "mount").read_text().strip().splitlines()[-1] != "0"  # no CAP_SYS_ADMIN
    assert (host_dir / "ro").read_text().strip() != "0"  # /proc/sys is read-only


def test_privileged_container(runtime: Runtime, make_config: Callable[..., ContainerConfig],
                              host_dir: Path) -> None:
    script = ("grep CapEff /proc/self/status > /host/caps;"
              " grep Seccomp: /proc/self/status > /host/sc;"
              " mkdir /tmp/m; mount -t tmpfs none /tmp/m; echo $? > /host/mount")
    cfg = make_config(["sh", "-c", script], privileged=True, no_new_privileges=False,
                      mounts=(Mount("/host", str(host_dir)),))

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 10)
        assert (await runtime.state(cfg.id)).exit_code == 0

    asyncio.run(scenario())
    own = next(line for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("CapBnd"))
    assert (host_dir / "caps").read_text().split()[1] == own.split()[1]
    assert (host_dir / "sc").read_text().split() == ["Seccomp:", "0"]
    assert (host_dir / "mount").read_text().strip() == "0"


def test_tty_container_logs(runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", "tty; echo on-a-terminal"], tty=True)

    async def scenario() -> None:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        assert await runtime.wait_exit(cfg.id, 10)
        assert (await runtime.state(cfg.id)).exit_code == 0

    asyncio.run(scenario())
    lines = cfg.log_path.read_text().splitlines()
    assert all(CRI_LINE.match(line) for line in lines), lines
    text = " ".join(line.split(" ", 3)[3] for line in lines)
    assert "/dev/pts/0" in text and "on-a-terminal" in text


_CREATE_THEN_DIE = """
import asyncio, sys
from pathlib import Path
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig
state, cid, rootfs, log, parent = sys.argv[1:]
cfg = ContainerConfig(id=cid, name=cid, rootfs=Path(rootfs), args=["sleep", "1000"],
                      log_path=Path(log), cgroup_parent=parent)
asyncio.run(Runtime(Path(state)).create(cfg))
"""


def test_create_survives_the_death_of_its_caller(
        runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    """podhost kill -9'd while conmon runs `runc create` (issue 6): conmon lives on (it must not
    die of SIGPIPE reporting to a gone reader), and a restarted runtime waits for the create in
    flight instead of taking the container for unknown; it then runs, logs and exits normally."""
    import signal
    import subprocess
    import sys
    cfg = make_config(["sleep", "1000"])
    caller = subprocess.Popen(
        [sys.executable, "-c", _CREATE_THEN_DIE, str(runtime.state_dir), cfg.id,
         str(cfg.rootfs), str(cfg.log_path), cfg.cgroup_parent])
    conmon_pidfile = runtime.bundle_dir(cfg.id) / "conmon.pid"
    deadline = time.monotonic() + 30
    while not conmon_pidfile.exists() and caller.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    caller.send_signal(signal.SIGKILL)  # as soon as conmon runs: runc create is in flight
    caller.wait()

    async def scenario() -> None:
        again = Runtime(runtime.state_dir)
        state = await again.state(cfg.id)
        assert state.status == "created"
        assert again.conmon_alive(cfg.id)
        await again.start(cfg.id)
        await asyncio.sleep(0.3)
        assert again.conmon_alive(cfg.id)  # it reported into a pipe it holds itself
        await again.stop(cfg.id, timeout=0.2)
        assert again.exited() == {cfg.id: 137}  # conmon recorded the exit
        await again.delete(cfg.id)

    asyncio.run(scenario())
    assert_gone(runtime, cfg.id)
