"""The API server's defences against hostile or runaway clients, as kube-apiserver's:

- request bodies over 3 MiB are refused (413, `Request entity too large: limit is 3145728`,
  http.py reads no further);
- JSON nested deeper than Go's decoder accepts (10,000 levels) is refused in its words (400);
  anything up to that depth is decoded and checked like any object, so the interpreter's
  recursion limit is raised to let it (`allow_deep_objects`);
- requests in flight are capped as `--max-requests-inflight=400` and
  `--max-mutating-requests-inflight=200` cap them: past the cap a request is answered 429 with
  `Retry-After: 1` (the max-in-flight filter's plain-text answer; client-go waits and retries);
  long-running requests (watches, exec, attach, port-forward, logs, proxy) are not counted;
- watches are counted per client (user): past WATCHES_PER_USER open watches, 429 too;
- slow clients: http.py closes a connection idle for IDLE_TIMEOUT between requests, one whose
  request headers take longer than HEADER_TIMEOUT, and one whose body stalls BODY_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator

from podhost.apiserver.http import Request, Response, StreamResponse

MAX_JSON_DEPTH = 10000  # encoding/json's maxNestingDepth
MAX_READONLY, MAX_MUTATING = 400, 200  # kube-apiserver's default in-flight limits
WATCHES_PER_USER = 250
RETRY_AFTER = 1
# the interpreter must walk MAX_JSON_DEPTH levels in every recursive step a request takes
RECURSION_LIMIT = 8 * MAX_JSON_DEPTH

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def allow_deep_objects() -> None:
    """Let decoding, patching and validation recurse through MAX_JSON_DEPTH levels."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


def too_deep(body: bytes) -> str | None:
    """Go's decoder error for a JSON body nested deeper than MAX_JSON_DEPTH, else None."""
    if body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', body)):
        c = m.group()
        if c in (b"{", b"["):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return f"invalid character '{c.decode()}' exceeded max depth"
        else:
            depth -= 1
    return None


def too_many_requests() -> Response:
    """The max-in-flight filter's answer (http.Error: plain text, a newline)."""
    return Response(429, b"Too many requests, please try again later.\n",
                    content_type="text/plain; charset=utf-8",
                    headers=[("Retry-After", str(RETRY_AFTER)),
                             ("X-Content-Type-Options", "nosniff")])


def is_watch(request: Request) -> bool:
    return request.flag("watch") or "/watch/" in request.path


def is_long_running(request: Request) -> bool:
    if is_watch(request):
        return True
    parts = request.path.rstrip("/").split("/")
    return bool(parts) and (parts[-1] in _LONG_RUNNING_SUBRESOURCES or "proxy" in parts)


class InFlight:
    """Requests in flight (non-long-running, read-only and mutating apart) and each user's
    open watches."""

    def __init__(self, readonly: int = MAX_READONLY, mutating: int = MAX_MUTATING,
                 watches: int = WATCHES_PER_USER) -> None:
        self.caps = {False: readonly, True: mutating}
        self.running = {False: 0, True: 0}
        self.watch_cap = watches
        self.watches: Counter[str] = Counter()

    @contextlib.contextmanager
    def admit(self, request: Request) -> Iterator[bool]:
        """Yields whether the request may run now (counted until the block ends)."""
        if is_long_running(request):
            yield True
            return
        mutating = request.method in _MUTATING
        if self.running[mutating] >= self.caps[mutating]:
            yield False
            return
        self.running[mutating] += 1
        try:
            yield True
        finally:
            self.running[mutating] -= 1

    def watch_allowed(self, user: str) -> bool:
        return self.watches[user] < self.watch_cap

    def count_watch(self, user: str, response: StreamResponse) -> StreamResponse:
        """The watch's stream, counted against the user while it is streamed."""
        response.chunks = self._counted(user, response.chunks)
        return response

    async def _counted(self, user: str, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        self.watches[user] += 1
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self.watches[user] -= 1
            if self.watches[user] <= 0:
                del self.watches[user]
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
