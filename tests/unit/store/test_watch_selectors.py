"""Watches with a selector as the watch cache sends them: an object that starts matching arrives
as ADDED, one that stops matching as DELETED (its last matching state at the new
resourceVersion), live and when a watch resumes from the history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podhost.api import selectors
from podhost.store.sqlite import Store
from podhost.store.watch import Event, Watcher


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels}}


def drain(watcher: Watcher) -> list[tuple[str, str, str | None, str]]:
    out = []
    while not watcher.queue.empty():
        ev = watcher.queue.get_nowait()
        assert ev is not None
        m = ev.object["metadata"]
        out.append((ev.type, m["name"], (m.get("labels") or {}).get("tier"),
                    m["resourceVersion"]))
    return out


def relabel(store: Store, name: str, **labels: str) -> str:
    obj = store.get("configmaps", "default", name)
    obj["metadata"]["labels"] = labels
    return str(store.update("configmaps", obj)["metadata"]["resourceVersion"])


def test_live_selective_watch_sees_added_and_deleted(tmp_path: Path) -> None:
    async def go() -> None:
        store = Store(tmp_path / "db")
        store.create("configmaps", cm("a", tier="web"))
        store.create("configmaps", cm("b", tier="db"))
        web = selectors.matcher("tier=web", None)
        watcher, _ = store.watch("configmaps", "default", None, web, selective=True)
        plain, _ = store.watch("configmaps", "default", None, web)  # the old (unselective) view
        rv_b = relabel(store, "b", tier="web")  # starts matching
        rv_a = relabel(store, "a", tier="db")  # stops matching
        rv_b2 = relabel(store, "b", tier="web", extra="x")  # still matching
        relabel(store, "a", tier="cache")  # never matched before nor after
        assert drain(watcher) == [("ADDED", "b", "web", rv_b), ("DELETED", "a", "web", rv_a),
                                  ("MODIFIED", "b", "web", rv_b2)]
        assert [t for t, *_ in drain(plain)] == ["MODIFIED", "MODIFIED"]
    asyncio.run(go())


def test_resumed_selective_watch_replays_transitions(tmp_path: Path) -> None:
    async def go() -> None:
        store = Store(tmp_path / "db")
        since = int(store.create("configmaps", cm("a", tier="web"))["metadata"]
                    ["resourceVersion"])
        rv_a = relabel(store, "a", tier="db")
        rv_a2 = relabel(store, "a", tier="web")
        store.delete("configmaps", "default", "a")
        web = selectors.matcher("tier=web", None)
        _, backlog = store.watch("configmaps", None, since, web, selective=True)
        seen = [(e.type, e.object["metadata"]["labels"]["tier"], e.rv) for e in backlog]
        assert seen[:2] == [("DELETED", "web", int(rv_a)), ("ADDED", "web", int(rv_a2))]
        assert [t for t, *_ in seen] == ["DELETED", "ADDED", "DELETED"]
    asyncio.run(go())


def test_view_without_the_previous_state_stays_modified() -> None:
    watcher = Watcher("configmaps", None, selectors.matcher("tier=web", None), selective=True)
    event = Event("MODIFIED", "configmaps", cm("a", tier="web"), 5)
    assert watcher.view(event, lambda: None) == event
    assert watcher.view(Event("MODIFIED", "configmaps", cm("a"), 6), lambda: None) is None
