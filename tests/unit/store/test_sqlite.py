"""The Store: optimistic concurrency, monotonic resourceVersions, watch backlog and 410."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from podhost.api import errors
from podhost.store import watch
from podhost.store.sqlite import Store


def obj(name: str, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}


def test_update_with_stale_resource_version_conflicts(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    created = store.create("configmaps", obj("a"))
    rv = created["metadata"]["resourceVersion"]
    store.update("configmaps", obj("a"), expected_rv=rv)
    with pytest.raises(errors.ConflictError) as e:
        store.update("configmaps", obj("a"), expected_rv=rv)
    assert e.value.message == ('Operation cannot be fulfilled on configmaps "a": the object has '
                               "been modified; please apply your changes to the latest version "
                               "and try again")
    with pytest.raises(errors.AlreadyExistsError):
        store.create("configmaps", obj("a"))


def test_resource_version_monotonic_across_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.create("configmaps", obj("a"))
    last = int(store.delete("configmaps", "default", "a")["metadata"]["resourceVersion"])
    store.close()
    store = Store(tmp_path / "db")
    assert store.current_rv() == last
    assert int(store.create("configmaps", obj("b"))["metadata"]["resourceVersion"]) == last + 1


def test_watch_backlog_and_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        store = Store(tmp_path / "db")
        start = store.current_rv()
        a = store.create("configmaps", obj("a"))
        store.create("configmaps", obj("b", "other"))
        store.delete("configmaps", "default", "a")
        _, backlog = store.watch("configmaps", "default", start, lambda o: True)
        assert [(e.type, e.object["metadata"]["name"]) for e in backlog] == [
            ("ADDED", "a"), ("DELETED", "a")]
        _, backlog = store.watch("configmaps", None, int(a["metadata"]["resourceVersion"]),
                                 lambda o: True)
        assert [e.type for e in backlog] == ["ADDED", "DELETED"]
        with pytest.raises(errors.GoneError) as e:
            store.watch("configmaps", None, start - 1, lambda o: True)
        assert e.value.message == f"too old resource version: {start - 1} ({start})"
        w, _ = store.watch("configmaps", None, None, lambda o: True)
        store.create("configmaps", obj("c"))
        ev = w.queue.get_nowait()
        assert ev.type == "ADDED" and ev.object["metadata"]["name"] == "c"
    asyncio.run(go())


def test_history_window_moves_oldest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "db")
    store.events.history = watch.collections.deque(maxlen=3)
    for i in range(5):
        store.create("configmaps", obj(f"c{i}"))
    assert store.events.oldest_rv > 1000
    with pytest.raises(errors.GoneError):
        store.watch("configmaps", None, 1001, lambda o: True)


def test_stored_json_is_the_encoding_of_the_decoded_object(tmp_path: Path) -> None:
    """list_json serves the rows as stored: they must be what encoding list()'s objects gives."""
    store = Store(tmp_path / "db")
    a = obj("a")
    a["data"] = {"k": "é \u2603 \U0001f600 \"\\ </>"}
    a["metadata"]["labels"] = {"x": "1"}
    a["spec"] = {"f": 1.5e300, "g": -0.0, "h": 10**30, "i": None, "j": [True, False, 0.1]}
    store.create("configmaps", a)
    store.create("configmaps", obj("b", "other"))
    store.create("configmaps", obj("c"))
    store.create("pods", obj("p"))
    rows, rv = store.list_json("configmaps")
    objects, rv2 = store.list("configmaps")
    assert rv == rv2 == store.current_rv()
    assert [(ns, name) for ns, name, _ in rows] == [("default", "a"), ("default", "c"),
                                                    ("other", "b")]
    assert [data for _, _, data in rows] == [
        json.dumps(o, separators=(",", ":")) for o in objects]
    assert [name for _, name, _ in store.list_json("configmaps", "default")[0]] == ["a", "c"]
