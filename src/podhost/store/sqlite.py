"""The durable store: API objects as JSON rows in SQLite, with one monotonic resourceVersion.

SQLite in WAL mode survives `kill -9` of the node; every write is one transaction that bumps the
global resourceVersion counter, so versions stay monotonic across restarts and deletions.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podhost.api import errors
from podhost.store.encryption import ENCRYPTED, SecretCipher
from podhost.store.watch import Broadcaster, Event, Watcher

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
  resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  rv INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (resource, namespace, name));
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('rv', 1000);
"""

Object = dict[str, Any]


def _key(obj: Object) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


class Store:
    """get/list/create/update/delete/watch over API objects, keyed by resource, namespace, name."""

    def __init__(self, path: Path, cipher: SecretCipher | None = None) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed, not left readable
        self.db.executescript(_SCHEMA)
        self.cipher = cipher  # Secrets are encrypted at rest with it
        self.events = Broadcaster()
        self.events.oldest_rv = self.current_rv()
        if cipher is not None:
            self._reencrypt()

    def _reencrypt(self) -> None:
        """Write every Secret not sealed with the primary key again (plain or an older key)."""
        assert self.cipher is not None
        for sealed in ENCRYPTED:
            rows = self.db.execute("SELECT namespace, name, data FROM objects WHERE resource=?",
                                   (sealed,)).fetchall()
            for ns, name, data in rows:
                if not self.cipher.current(data) and self.cipher.readable(data):
                    aad = f"{sealed}/{ns}/{name}"
                    self.db.execute("UPDATE objects SET data=? WHERE resource=? AND namespace=? "
                                    "AND name=?", (self.cipher.encrypt(
                                        aad, self.cipher.decrypt(aad, data)), sealed, ns, name))
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _seal(self, resource: str, ns: str, name: str, data: str) -> str:
        if self.cipher is None or resource not in ENCRYPTED:
            return data
        return self.cipher.encrypt(f"{resource}/{ns}/{name}", data)

    def _open(self, resource: str, ns: str, name: str, data: str) -> str:
        if self.cipher is None or resource not in ENCRYPTED:
            return data
        return self.cipher.decrypt(f"{resource}/{ns}/{name}", data)

    def close(self) -> None:
        self.db.close()

    def current_rv(self) -> int:
        return int(self.db.execute("SELECT value FROM counters WHERE key='rv'").fetchone()[0])

    def _next_rv(self) -> int:
        self.db.execute("UPDATE counters SET value = value + 1 WHERE key='rv'")
        return self.current_rv()

    def get(self, resource: str, namespace: str, name: str) -> Object:
        row = self.db.execute(
            "SELECT data FROM objects WHERE resource=? AND namespace=? AND name=?",
            (resource, namespace or "", name)).fetchone()
        if row is None:
            raise errors.NotFoundError.of(resource, name)
        obj: Object = json.loads(self._open(resource, namespace or "", name, row[0]))
        return obj

    def counts(self) -> dict[str, int]:
        """The number of objects of each resource (apiserver_storage_objects)."""
        return dict(self.db.execute(
            "SELECT resource, count(*) FROM objects GROUP BY resource").fetchall())

    def version_of(self, resources: tuple[str, ...]) -> tuple[int, int]:
        """(number of objects, highest resourceVersion) of some resources: it changes with every
        create, update or delete of one of them (a cache key for what is derived from them)."""
        marks = ",".join("?" * len(resources))
        row = self.db.execute(f"SELECT count(*), max(rv) FROM objects WHERE resource IN "
                              f"({marks})", resources).fetchone()
        return int(row[0]), int(row[1] or 0)

    def uid_of(self, resource: str, namespace: str, name: str) -> tuple[str, str] | None:
        """(uid, deletionTimestamp or "") of an object, without decoding it; None when it does
        not exist (what token authentication checks on every request)."""
        if resource in ENCRYPTED:
            try:
                m = self.get(resource, namespace, name)["metadata"]
            except errors.NotFoundError:
                return None
            return m.get("uid", ""), m.get("deletionTimestamp") or ""
        row = self.db.execute(
            "SELECT json_extract(data, '$.metadata.uid'), "
            "json_extract(data, '$.metadata.deletionTimestamp') FROM objects "
            "WHERE resource=? AND namespace=? AND name=?",
            (resource, namespace or "", name)).fetchone()
        return None if row is None else (row[0] or "", row[1] or "")

    def _rows(self, resource: str, namespace: str | None
              ) -> tuple[list[tuple[str, str, str]], int]:
        """(namespace, name, stored JSON) in name order, with the resourceVersion they are
        consistent at."""
        self.db.execute("BEGIN")
        try:
            if namespace is None:
                rows = self.db.execute("SELECT namespace, name, data FROM objects WHERE "
                                       "resource=? ORDER BY namespace, name",
                                       (resource,)).fetchall()
            else:
                rows = self.db.execute("SELECT namespace, name, data FROM objects WHERE "
                                       "resource=? AND namespace=? ORDER BY name",
                                       (resource, namespace)).fetchall()
            rv = self.current_rv()
        finally:
            self.db.execute("COMMIT")
        if self.cipher is not None and resource in ENCRYPTED:
            rows = [(ns, name, self._open(resource, ns, name, data)) for ns, name, data in rows]
        return rows, rv

    def list(self, resource: str, namespace: str | None = None,
             predicate: Callable[[Object], bool] | None = None) -> tuple[list[Object], int]:
        """Objects in name order with the resourceVersion the list is consistent at."""
        rows, rv = self._rows(resource, namespace)
        items = [json.loads(r[2]) for r in rows]
        return [o for o in items if predicate is None or predicate(o)], rv

    def list_json(self, resource: str, namespace: str | None = None
                  ) -> tuple[builtins.list[tuple[str, str, str]], int]:
        """As list() without a predicate, each object as (namespace, name, its stored JSON).

        The stored JSON is what `json.dumps(obj, separators=(",", ":"))` makes of the object
        (see _write), so it is byte for byte what encoding the decoded object again gives.
        """
        return self._rows(resource, namespace)

    def _write(self, resource: str, obj: Object) -> tuple[Event, str]:
        """Store obj with the next resourceVersion; the event holds a private copy, the string
        is the stored JSON."""
        ns, name = _key(obj)
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        data = json.dumps(obj, separators=(",", ":"))
        self.db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?)",
                        (resource, ns, name, rv, self._seal(resource, ns, name, data)))
        return Event("", resource, json.loads(data), rv), data

    def create(self, resource: str, obj: Object) -> Object:
        ns, name = _key(obj)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            exists = self.db.execute("SELECT 1 FROM objects WHERE resource=? AND namespace=? "
                                     "AND name=?", (resource, ns, name)).fetchone()
            if exists:
                raise errors.AlreadyExistsError.of(resource, name)
            event, data = self._write(resource, obj)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.events.publish(Event("ADDED", resource, event.object, event.rv), data)
        return obj

    def update(self, resource: str, obj: Object, *, expected_rv: str | None = None) -> Object:
        """Replace an object; with expected_rv, a stale writer gets 409 Conflict."""
        ns, name = _key(obj)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT rv, data FROM objects WHERE resource=? AND "
                                  "namespace=? AND name=?", (resource, ns, name)).fetchone()
            if row is None:
                raise errors.NotFoundError.of(resource, name)
            prev = self._open(resource, ns, name, row[1]) \
                if self.events.selective(resource) else None
            if expected_rv and str(row[0]) != str(expected_rv):
                raise errors.ConflictError.modified(resource, name)
            event, data = self._write(resource, obj)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.events.publish(Event("MODIFIED", resource, event.object, event.rv, prev), data)
        return obj

    def delete(self, resource: str, namespace: str, name: str) -> Object:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            obj = self.get(resource, namespace, name)
            rv = self._next_rv()
            self.db.execute("DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                            (resource, namespace or "", name))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        obj["metadata"]["resourceVersion"] = str(rv)
        data = json.dumps(obj, separators=(",", ":"))
        self.events.publish(Event("DELETED", resource, json.loads(data), rv), data)
        return obj

    def watch(self, resource: str, namespace: str | None, since_rv: int | None,
              predicate: Callable[[Object], bool], *, selective: bool = False
              ) -> tuple[Watcher, builtins.list[Event]]:
        """Register a watcher; returns it with the backlog after since_rv (None: no backlog).
        selective: the predicate is a selector, and changes across it become ADDED/DELETED.

        Raises GoneError when since_rv is older than the kept history.
        """
        watcher = Watcher(resource, namespace, predicate, selective)
        backlog: list[Event] = []
        if since_rv is not None:
            found = self.events.backlog(watcher, since_rv)
            if found is None:
                raise errors.GoneError(f"too old resource version: {since_rv} "
                                       f"({self.events.oldest_rv})")
            backlog = found
        self.events.add(watcher)
        return watcher, backlog

    def unwatch(self, watcher: Watcher) -> None:
        self.events.remove(watcher)
