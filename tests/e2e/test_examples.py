"""Every example under examples/ runs and does what its comment says (issue 9)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e
EXAMPLES = REPO / "examples"


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def run_example(node: Node, name: str) -> None:
    node.kubectl("apply", "-f", str(EXAMPLES / f"{name}.yaml"))
    node.wait_ready(name)


def remove(node: Node, name: str) -> None:
    node.kubectl("delete", "pod", name, "--grace-period=1", "--wait=true", timeout=60)


def test_log_aggregation(node: Node) -> None:
    run_example(node, "log-aggregation")
    try:
        def aggregated() -> bool:
            out = node.kubectl("logs", "log-aggregation", "-c", "log-aggregator").stdout
            return bool(re.search(r"\[aggregator\] .*level=ERROR request 3 \| totals: INFO=2 "
                                  r"ERROR=1", out))
        eventually(aggregated)
    finally:
        remove(node, "log-aggregation")


def test_data_pipeline(node: Node) -> None:
    run_example(node, "data-pipeline")
    try:
        def processed() -> bool:
            out = node.kubectl("logs", "data-pipeline", "-c", "consumer").stdout
            return len(re.findall(r"^processed job-\d+: \d+ words$", out, re.M)) >= 3
        eventually(processed)
        out = node.kubectl("logs", "data-pipeline", "-c", "consumer").stdout
        for n, words in re.findall(r"^processed job-(\d+): (\d+) words$", out, re.M):
            assert int(words) == int(n) % 7 + 3, "a half-written file was consumed"
        done = node.kubectl("exec", "data-pipeline", "-c", "producer", "--",
                            "ls", "/data/done").stdout.split()
        assert "job-1.result" in done
    finally:
        remove(node, "data-pipeline")


def test_config_sharing(node: Node) -> None:
    run_example(node, "config-sharing")
    try:
        out = node.kubectl("exec", "config-sharing", "-c", "reader", "--",
                           "wget", "-qO-", "http://127.0.0.1:8080/").stdout
        assert out == "configuration rendered by the init container\n"
        assert "listen 8080;" in node.kubectl("logs", "config-sharing", "-c", "reader").stdout
        denied = node.kubectl("exec", "config-sharing", "-c", "reader", "--",
                              "touch", "/config/x", check=False)
        assert denied.returncode == 1 and "Read-only file system" in denied.stderr
        init_log = node.kubectl("logs", "config-sharing", "-c", "render-config").stdout
        assert init_log == "rendered /config/app.conf\n"
    finally:
        remove(node, "config-sharing")


def test_scratch_memory(node: Node) -> None:
    run_example(node, "scratch-memory")
    try:
        def finished() -> bool:
            return "space" in node.kubectl("logs", "scratch-memory").stdout.lower()
        eventually(finished)
        out = node.kubectl("logs", "scratch-memory").stdout
        assert "scratch size: 16384 KiB" in out
        assert "wrote 8 MiB: ok" in out
        assert "No space left on device" in out
        mounts = node.kubectl("exec", "scratch-memory", "--", "grep", "/scratch",
                              "/proc/mounts").stdout
        assert mounts.startswith("tmpfs /scratch tmpfs")
    finally:
        remove(node, "scratch-memory")
