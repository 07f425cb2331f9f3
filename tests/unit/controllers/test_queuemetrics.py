"""workqueue_* of the controllers' queues (controllers/queuemetrics.py), as client-go counts."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from podhost.controllers import queuemetrics
from podhost.controllers.queue import WorkQueue


def values(name: str, queue: str) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(queuemetrics.collector())
    text = generate_latest(registry).decode()
    return {s.name + (f"@{s.labels['le']}" if "le" in s.labels else ""): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.labels.get("name") == queue and s.name.startswith(name)}


def test_queue_names_are_kube_controller_managers() -> None:
    assert queuemetrics.queue_name("deployment-controller") == "deployment"
    assert queuemetrics.queue_name("endpointslice-controller") == "endpoint_slice"
    assert queuemetrics.queue_name("garbage-collector") == \
        "garbage_collector_attempt_to_delete"
    assert queuemetrics.queue_name("new-thing-controller") == "new_thing"


def test_adds_depth_durations_and_retries() -> None:
    async def run() -> None:
        q = WorkQueue(name="test_queue_a")
        q.add("a")
        q.add("a")  # already queued: not an add
        q.add("b")
        assert values("workqueue_depth", "test_queue_a") == {"workqueue_depth": 2}
        assert values("workqueue_adds_total", "test_queue_a") == {"workqueue_adds_total": 2}
        key = await q.get()
        assert key == "a"
        await asyncio.sleep(0.01)
        assert values("workqueue_longest_running_processor_seconds", "test_queue_a")[
            "workqueue_longest_running_processor_seconds"] >= 0.01
        assert values("workqueue_unfinished_work_seconds", "test_queue_a")[
            "workqueue_unfinished_work_seconds"] >= 0.01
        q.add_rate_limited("a")
        q.done("a")
        got = values("workqueue_", "test_queue_a")
        assert got["workqueue_depth"] == 1
        assert got["workqueue_retries_total"] == 1
        assert got["workqueue_queue_duration_seconds_count"] == 1
        assert got["workqueue_work_duration_seconds_count"] == 1
        assert got["workqueue_work_duration_seconds_bucket@10.0"] == 1
        assert got["workqueue_unfinished_work_seconds"] == 0
        q.shut_down()

    asyncio.run(run())


def test_an_unnamed_queue_reports_nothing() -> None:
    async def run() -> None:
        q = WorkQueue()
        q.add("x")
        assert q.metrics is None

    asyncio.run(run())
