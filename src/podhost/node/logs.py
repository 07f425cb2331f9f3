"""Reading CRI-format container logs (`<time> <stream> <P|F> <content>`) as kubelet serves them."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

POLL = 0.1
MAX_SIZE = 10 * 1024 * 1024  # kubelet's containerLogMaxSize
MAX_FILES = 5  # kubelet's containerLogMaxFiles (the live file included)


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime
    stream: str
    content: bytes  # a whole line, with its newline when the line was complete (F)


def _parse_time(text: bytes) -> datetime:
    s = text.decode()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    head, _, rest = s.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        s = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    return datetime.fromisoformat(s)


def parse_lines(data: bytes) -> Iterator[LogLine]:
    """Whole log lines from CRI records, joining partial (P) records with the final (F) one."""
    pending: dict[str, list[bytes]] = {}
    for record in data.split(b"\n"):
        parts = record.split(b" ", 3)
        if len(parts) < 3:
            continue
        ts, stream, tag = parts[0], parts[1].decode(), parts[2]
        content = parts[3] if len(parts) > 3 else b""
        if tag == b"P":
            pending.setdefault(stream, []).append(content)
            continue
        whole = b"".join(pending.pop(stream, [])) + content + b"\n"
        try:
            yield LogLine(_parse_time(ts), stream, whole)
        except ValueError:
            continue


def format_time(t: datetime) -> str:
    """RFC3339Nano with nine digits, as kubelet prints `--timestamps`."""
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def render(line: LogLine, timestamps: bool) -> bytes:
    return (format_time(line.time).encode() + b" " if timestamps else b"") + line.content


def select(lines: list[LogLine], tail: int | None, since: datetime | None) -> list[LogLine]:
    if since is not None:
        lines = [ln for ln in lines if ln.time >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines


def rotated_files(path: Path) -> list[Path]:
    """Rotated files of a log, oldest first (`<name>.<UTC stamp>`, as kubelet names them)."""
    try:
        names = [p for p in path.parent.iterdir()
                 if p.name.startswith(path.name + ".") and not p.name.endswith(".tmp")]
    except FileNotFoundError:
        return []
    return sorted(names)


def rotate(path: Path, now: datetime, max_files: int = MAX_FILES) -> Path:
    """Rename the live log away and drop the oldest rotated files beyond max_files - 1.

    The caller then has the runtime reopen the log, which makes a new live file."""
    target = path.with_name(f"{path.name}.{now.astimezone(timezone.utc):%Y%m%d-%H%M%S.%f}")
    os.rename(path, target)
    old = rotated_files(path)
    for extra in old[: max(0, len(old) - (max_files - 1))]:
        extra.unlink(missing_ok=True)
    return target


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


async def stream(path: Path, *, follow: bool, timestamps: bool, tail: int | None,
                 since: datetime | None, limit: int | None,
                 alive: Callable[[], bool]) -> AsyncIterator[bytes]:
    """The log of one container attempt; with follow, until the container ends."""
    sent = 0
    older = b"".join(_read(p) for p in rotated_files(path))
    data = _read(path)
    complete = data[: data.rfind(b"\n") + 1]
    offset = len(complete)
    for line in select(list(parse_lines(older + complete)), tail, since):
        chunk = render(line, timestamps)
        if limit is not None:
            chunk = chunk[: max(0, limit - sent)]
        if chunk:
            sent += len(chunk)
            yield chunk
        if limit is not None and sent >= limit:
            return
    if not follow:
        return
    async for chunk in _follow(path, offset, timestamps, alive):
        if limit is not None:
            chunk = chunk[: max(0, limit - sent)]
        sent += len(chunk)
        yield chunk
        if limit is not None and sent >= limit:
            return


async def _follow(path: Path, offset: int, timestamps: bool,
                  alive: Callable[[], bool]) -> AsyncIterator[bytes]:
    buffer = b""
    while True:
        still_alive = alive()
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < offset:
                    offset = 0
                f.seek(offset)
                new = f.read()
        except FileNotFoundError:
            new = b""
        offset += len(new)
        buffer += new
        cut = buffer.rfind(b"\n") + 1
        if cut:
            out = b"".join(render(ln, timestamps) for ln in parse_lines(buffer[:cut]))
            buffer = buffer[cut:]
            if out:
                yield out
        if not still_alive and not new:
            return
        await asyncio.sleep(POLL)
