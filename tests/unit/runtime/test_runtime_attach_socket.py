"""The client side of conmon's attach socket, against a stand-in SOCK_SEQPACKET listener."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from podhost.runtime.conmon import STDIN_CHUNK, AttachConnection


def with_conmon(bundle: Path, scenario: Callable[[AttachConnection, socket.socket],
                                                 Awaitable[None]]) -> None:
    """Run scenario(client, conmon's end) with a listener standing in for conmon's."""
    async def run() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
            server.bind(str(bundle / "attach"))
            server.listen(1)
            conn = AttachConnection(bundle)
            peer, _ = server.accept()
            with peer:
                await scenario(conn, peer)
            conn.close()

    asyncio.run(run())


def test_packets_stdin_half_close_and_end(tmp_path: Path) -> None:
    async def scenario(conn: AttachConnection, peer: socket.socket) -> None:
        peer.send(b"\x02out")
        peer.send(b"\x03err")
        assert await conn.recv() == (2, b"out")
        assert await conn.recv() == (3, b"err")
        await conn.send(b"x" * (STDIN_CHUNK + 1))  # one packet per conmon read
        assert [len(peer.recv(65536)), len(peer.recv(65536))] == [STDIN_CHUNK, 1]
        conn.shutdown_write()
        assert peer.recv(65536) == b""
        peer.shutdown(socket.SHUT_WR)
        assert await conn.recv() is None
        conn.close()
        assert await conn.recv() is None
        await conn.send(b"dropped")

    with_conmon(tmp_path, scenario)


def test_close_wakes_a_pending_recv(tmp_path: Path) -> None:
    async def scenario(conn: AttachConnection, peer: socket.socket) -> None:
        reader = asyncio.ensure_future(conn.recv())
        await asyncio.sleep(0.05)
        assert not reader.done()
        conn.close()  # a detach
        assert await asyncio.wait_for(reader, 1) is None
        assert peer.recv(65536) == b""

    with_conmon(tmp_path, scenario)
