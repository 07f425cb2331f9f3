"""Log rotation with real conmon: the live file renamed away, conmon told to reopen it, and
`logs` still reading every line across the rotated files (issue 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

from podhost.node import logs
from podhost.runtime.runc import Runtime
from podhost.runtime.types import ContainerConfig
from tests.integration.runtime.runtime_helpers import integration_marks

pytestmark = integration_marks()


async def _collect(path: object) -> bytes:
    out = b""
    async for chunk in logs.stream(path, follow=False, timestamps=False,  # type: ignore[arg-type]
                                   tail=None, since=None, limit=None, alive=lambda: False):
        out += chunk
    return out


def test_rotate_and_reopen(runtime: Runtime, make_config: Callable[..., ContainerConfig]) -> None:
    cfg = make_config(["sh", "-c", "i=0; while [ $i -lt 40 ]; do echo line$i; i=$((i+1)); "
                       "sleep 0.05; done"], log_size_max=10 * 1024 * 1024)

    async def scenario() -> bytes:
        await runtime.create(cfg)
        await runtime.start(cfg.id)
        rotated = 0
        for _ in range(6):
            await asyncio.sleep(0.25)
            if cfg.log_path.exists() and cfg.log_path.stat().st_size:
                logs.rotate(cfg.log_path, datetime.now(timezone.utc), max_files=10)
                assert runtime.reopen_log(cfg.id)
                rotated += 1
        assert await runtime.wait_exit(cfg.id, 10)
        assert rotated >= 3
        assert len(logs.rotated_files(cfg.log_path)) == rotated
        return await _collect(cfg.log_path)

    text = asyncio.run(scenario())
    assert text.decode().split() == [f"line{i}" for i in range(40)]


def test_rotate_keeps_max_files(tmp_path: object) -> None:
    from pathlib import Path
    path = Path(str(tmp_path)) / "0.log"
    for i in range(7):
        path.write_text(f"2026-01-01T00:00:0{i}.0Z stdout F n{i}\n")
        logs.rotate(path, datetime(2026, 1, 1, 0, 0, i, tzinfo=timezone.utc), max_files=5)
    assert [p.name for p in logs.rotated_files(path)] == [
        f"0.log.20260101-00000{i}.000000" for i in range(3, 7)]
