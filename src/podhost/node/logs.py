"""Reading CRI-format container logs (`<time> <stream> <P|F> <content>`) as kubelet serves them."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

POLL = 0.1
MAX_SIZE = 10 * 1024 * 1024  # kubelet's containerLogMaxSize
MAX_FILES = 5  # kubelet's containerLogMaxFiles (the live file included)


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime  # timezone-aware, microsecond precision
    stream: str
    content: bytes  # a whole line, with its newline when the line was complete (F)
    nanos: int | None = None  # the stamp's nanoseconds within the second, when it had them


_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _parse_stamp(text: bytes) -> tuple[datetime, int]:
    """An RFC3339Nano stamp (conmon writes `...:05.123456789+00:00`): the aware time and its
    nanoseconds. ValueError when it is not one."""
    m = _STAMP.match(text)
    if m is None:
        raise ValueError(f"bad log timestamp {text!r}")
    fraction = (m.group(2) or b"").decode()
    nanos = int(fraction[:9].ljust(9, "0"))
    zone = m.group(3).decode()
    base = datetime.fromisoformat(m.group(1).decode() + ("+00:00" if zone == "Z" else zone))
    return base.replace(microsecond=nanos // 1000), nanos


def _parse_time(text: bytes) -> datetime:
    return _parse_stamp(text)[0]


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
            when, nanos = _parse_stamp(ts)
        except ValueError:
            continue
        yield LogLine(when, stream, whole, nanos)


def format_time(t: datetime, nanos: int | None = None) -> str:
    """RFC3339NanoFixed (nine digits) in UTC, as kubelet prints `--timestamps`."""
    t = t.astimezone(timezone.utc)
    fraction = nanos if nanos is not None else t.microsecond * 1000
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction:09d}Z"


def render(line: LogLine, timestamps: bool) -> bytes:
    stamp = format_time(line.time, line.nanos).encode() + b" " if timestamps else b""
    return stamp + line.content


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
