"""The work queue: one entry per key, no key handed out twice at once, delays and back-off."""

from __future__ import annotations

import asyncio

from podhost.controllers.queue import WorkQueue


def test_a_key_is_queued_once_and_requeued_when_added_while_processed() -> None:
    async def go() -> None:
        q = WorkQueue()
        for key in ("a", "b", "a"):
            q.add(key)
        assert len(q) == 2
        assert await q.get() == "a"
        q.add("a")  # changed while being processed: not handed out before done
        assert await q.get() == "b"
        assert len(q) == 0
        q.done("b")
        q.done("a")
        assert await q.get() == "a"
        q.done("a")
        q.shut_down()
        assert await q.get() is None
        q.add("c")
        assert len(q) == 0
    asyncio.run(go())


def test_add_after_keeps_the_earliest_and_rate_limit_backs_off() -> None:
    async def go() -> None:
        q = WorkQueue(base_delay=0.01, max_delay=0.04)
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("a", 0.5)
        q.add_after("a", 0.02)
        q.add_after("a", 0.3)
        assert await asyncio.wait_for(q.get(), 1) == "a"
        assert loop.time() - start < 0.25
        q.done("a")
        waits = []
        for _ in range(4):
            t = loop.time()
            q.add_rate_limited("a")
            assert await asyncio.wait_for(q.get(), 1) == "a"
            q.done("a")
            waits.append(loop.time() - t)
        assert q.failures("a") == 4
        assert waits[1] >= 0.02 and waits[2] >= 0.04 and waits[3] < 0.2  # capped at max_delay
        q.forget("a")
        assert q.failures("a") == 0
        q.add_after("b", 10)
        q.shut_down()  # pending delays are dropped
        assert await asyncio.wait_for(q.get(), 1) is None
    asyncio.run(go())


def test_get_waits_for_an_add() -> None:
    async def go() -> None:
        q = WorkQueue()
        waiter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        q.add("x")
        assert await asyncio.wait_for(waiter, 1) == "x"
    asyncio.run(go())
