"""gRPC probes against a real grpc health server (grpcio), from the host's network namespace."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from podhost.node.probes import ProbeError, run_handler
from podhost.runtime.sandbox import create_sandbox, remove_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NETNS = Path("/proc/self/ns/net")  # the probe joins it with setns(2), as it joins a Pod's


class SlowHealth(health.HealthServicer):
    def Check(self, request: Any, context: Any) -> Any:
        time.sleep(3)
        return super().Check(request, context)


def serve(servicer: health.HealthServicer | None) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if servicer is not None:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def health_server() -> Iterator[tuple[health.HealthServicer, int]]:
    servicer = health.HealthServicer()
    server, port = serve(servicer)
    yield servicer, port
    server.stop(None)


async def no_exec(argv: list[str], t: float) -> tuple[int, bytes]:
    raise AssertionError("no exec for a grpc probe")


def probe(port: int, service: str | None = None, timeout: float = 1.0,
          netns: Path = NETNS) -> str:
    action: dict[str, Any] = {"port": port}
    if service is not None:
        action["service"] = service
    return asyncio.run(run_handler({"grpc": action}, run=no_exec, netns=netns, container={},
                                   timeout=timeout, pod_ip="127.0.0.1"))


def failure(port: int, service: str | None = None, timeout: float = 1.0,
            netns: Path = NETNS) -> str:
    with pytest.raises(ProbeError) as info:
        probe(port, service, timeout, netns)
    return str(info.value)


def test_serving_not_serving_unknown(health_server: tuple[health.HealthServicer, int]) -> None:
    servicer, port = health_server
    assert probe(port) == "service healthy"  # service "" is SERVING from the start
    servicer.set("db", health_pb2.HealthCheckResponse.SERVING)
    assert probe(port, "db") == "service healthy"
    servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert failure(port, "db") == 'service unhealthy (responded with "NOT_SERVING")'
    servicer.set("", health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
    assert failure(port) == 'service unhealthy (responded with "SERVICE_UNKNOWN")'
    assert failure(port, "nope") == ("error: health rpc probe failed: rpc error: "
                                     "code = NotFound desc = ")
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for _ in range(3):  # a fresh connection each time, as kubelet dials per probe
        assert probe(port, "") == "service healthy"


def test_server_without_health_service() -> None:
    server, port = serve(None)
    try:
        assert failure(port) == ("error: this server does not implement the grpc health "
                                 "protocol (grpc.health.v1.Health): Method not found!")
    finally:
        server.stop(None)


def test_rpc_timeout() -> None:
    server, port = serve(SlowHealth())
    try:
        start = time.monotonic()
        assert failure(port) == "timeout: health rpc did not complete within 1s"
        assert time.monotonic() - start < 2
    finally:
        server.stop(None)


def test_listener_that_never_answers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        start = time.monotonic()
        assert failure(port) == (f'timeout: failed to connect service "127.0.0.1:{port}" '
                                 "within 1s: context deadline exceeded")
        assert 0.9 < time.monotonic() - start < 2


def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    # like grpc-go's blocking dial, kubelet's probe retries a refused connection until the end
    assert failure(port, timeout=2) == (f'timeout: failed to connect service "127.0.0.1:{port}" '
                                        "within 2s: context deadline exceeded")


def test_server_started_during_the_probe() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

    async def scenario() -> str:
        task = asyncio.ensure_future(asyncio.to_thread(probe, port, None, 3))
        await asyncio.sleep(0.3)  # the first attempt was refused
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        try:
            return await task
        finally:
            server.stop(None)

    assert asyncio.run(scenario()) == "service healthy"


def test_netns_that_cannot_be_joined(tmp_path: Path) -> None:
    (tmp_path / "net").write_text("")
    assert failure(1, netns=tmp_path / "net").startswith(
        'error: failed to connect service at "127.0.0.1:1": [Errno 22]')


SERVER = """
import sys, time
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2_grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
print("ready", flush=True)
time.sleep(60)
"""


def test_probe_runs_in_the_pods_network_namespace(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]  # free on the host, and in the fresh sandbox
    ns_dir = tmp_path / "ns"
    asyncio.run(create_sandbox(ns_dir, "grpc-pod"))
    server = subprocess.Popen(["nsenter", f"--net={ns_dir / 'net'}", sys.executable, "-c",
                               SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        assert probe(port, netns=ns_dir / "net") == "service healthy"
        assert failure(port).startswith("timeout: failed to connect service")  # not the host's
    finally:
        server.kill()
        server.wait()
        asyncio.run(remove_sandbox(ns_dir))
