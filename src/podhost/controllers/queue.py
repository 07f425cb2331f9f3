"""client-go's rate-limited work queue, for one asyncio event loop.

A key is queued at most once however often it is added; a key being processed is never handed
out again before `done`, and a key added meanwhile is queued again by `done`. `add_after` and
`add_rate_limited` (exponential back-off per key until `forget`) queue a key later.
"""

from __future__ import annotations

import asyncio
import collections

from podhost.controllers.queuemetrics import QueueMetrics

BASE_DELAY = 0.005
MAX_DELAY = 30.0


class WorkQueue:
    def __init__(self, base_delay: float = BASE_DELAY, max_delay: float = MAX_DELAY,
                 name: str = "") -> None:
        self.base_delay, self.max_delay = base_delay, max_delay
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()  # to be processed (queued, or waiting for `done`)
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._ready = asyncio.Event()
        self._shut = False
        self.metrics = QueueMetrics(name) if name else None  # workqueue_{depth,adds_total,…}

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        if self.metrics:
            self.metrics.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: str, delay: float) -> None:
        """Queue `key` in `delay` seconds; an earlier pending add of the key wins."""
        if self._shut:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._timers[key] = (when, loop.call_at(when, self._fire, key))

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        """Queue `key` again after its next back-off: base_delay doubled per failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if self.metrics:
            self.metrics.retry()
        self.add_after(key, min(self.base_delay * 2 ** failures, self.max_delay))

    def forget(self, key: str) -> None:
        """`key` succeeded: its back-off starts again from base_delay."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str | None:
        """The next key to process (mark it `done` after), or None once shut down."""
        while not self._queue:
            if self._shut:
                return None
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        if self.metrics:
            self.metrics.get(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if self.metrics:
            self.metrics.done(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def shut_down(self) -> None:
        """Stop handing out keys: `get` returns None once the queue is empty."""
        self._shut = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._ready.set()
