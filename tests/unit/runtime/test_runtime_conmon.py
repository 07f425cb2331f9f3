"""conmon command line and sync-pipe protocol (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podhost.runtime.conmon import conmon_argv, parse_sync_message
from podhost.runtime.errors import ConmonStartError, ContainerRuntimeError


def argv(**overrides: object) -> list[str]:
    values: dict[str, object] = {
        "conmon": "/usr/bin/conmon", "runtime": "/usr/sbin/runc",
        "runtime_root": Path("/var/lib/podhost/runc"), "container_id": "c1", "name": "web",
        "bundle": Path("/var/lib/podhost/containers/c1"),
        "exit_dir": Path("/var/lib/podhost/exits"),
        "log_path": Path("/var/log/pods/p/web/0.log"),
        "socket_dir": Path("/var/lib/podhost/sockets"),
    }
    values.update(overrides)
    return conmon_argv(**values)  # type: ignore[arg-type]


def test_conmon_argv_golden() -> None:
    assert argv() == [
        "/usr/bin/conmon",
        "--api-version", "1",
        "-c", "c1",
        "-u", "c1",
        "-n", "web",
        "-r", "/usr/sbin/runc",
        "-b", "/var/lib/podhost/containers/c1",
        "-p", "/var/lib/podhost/containers/c1/pidfile",
        "-P", "/var/lib/podhost/containers/c1/conmon.pid",
        "--exit-dir", "/var/lib/podhost/exits",
        "-l", "k8s-file:/var/log/pods/p/web/0.log",
        "--socket-dir-path", "/var/lib/podhost/sockets",
        "--log-level", "info",
        "--runtime-arg", "--root=/var/lib/podhost/runc",
    ]


def test_conmon_argv_terminal_and_stdin() -> None:
    assert argv(tty=True)[-1] == "-t"
    assert argv(stdin=True)[-2:] == ["-i", "--leave-stdin-open"]
    assert argv(stdin=True, stdin_once=True)[-1] == "-i"
    assert "--leave-stdin-open" not in argv(stdin=True, stdin_once=True)
    assert "-i" not in argv(stdin_once=True)


def test_conmon_argv_extra_runtime_args() -> None:
    tail = argv(extra_runtime_args=("--systemd-cgroup",))[-4:]
    assert tail == ["--runtime-arg", "--root=/var/lib/podhost/runc",
                    "--runtime-arg", "--systemd-cgroup"]


def test_sync_message_pid() -> None:
    assert parse_sync_message(b'{"data": 4242}\n') == 4242


def test_sync_message_error() -> None:
    with pytest.raises(ConmonStartError) as info:
        parse_sync_message(b'{"data": -1, "message": "exec: \\"nope\\": not found"}\n')
    assert 'exec: "nope": not found' in str(info.value)
    assert info.value.stderr == 'exec: "nope": not found'
    assert isinstance(info.value, ContainerRuntimeError)


@pytest.mark.parametrize("line", [b"garbage\n", b"{}", b'{"data": "x"}', b"[]"])
def test_sync_message_garbage(line: bytes) -> None:
    with pytest.raises(ConmonStartError):
        parse_sync_message(line)
