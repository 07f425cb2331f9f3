"""The Service table on the real nftables: made, re-synced with affinity state kept, chains of
gone Services deleted, tables of vanished nodes removed at the next start."""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.network.services import Layout, ServicePort, ServiceTable

pytestmark = pytest.mark.integration


def listing(table: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", table], capture_output=True,
                          text=True).stdout


@pytest.fixture
def bridge() -> Iterator[str]:
    """A bridge of the test's own (the table turns on route_localnet for it)."""
    name = f"phtest{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def layout(bridge: str) -> Layout:
    return Layout(f"podhost_svc_t{uuid.uuid4().hex[:8]}", ipaddress.IPv4Network("10.123.0.0/24"),
                  ipaddress.IPv4Network("10.250.0.0/16"), bridge)


def test_sync_keeps_affinity_and_drops_what_went(tmp_path: Path, bridge: str) -> None:
    lay = layout(bridge)
    table = ServiceTable(lay, str(tmp_path), tmp_path / "registry")
    web = ServicePort("default/web:", "10.123.0.20", "TCP", 80, 30080, 60,
                      (("10.250.0.2", 8080), ("10.250.0.3", 8080)))
    db = ServicePort("default/db:", "10.123.0.21", "UDP", 53, 0, 0, (("10.250.0.4", 53),))
    try:
        table.reset()
        assert (tmp_path / "registry" / lay.table).read_text().strip() == str(tmp_path)
        assert table.apply([web, db])
        text = listing(lay.table)
        assert "10.123.0.20 . tcp . 80 : goto svc-" in text and "tcp . 30080 : goto ext-" in text
        assert "dnat ip to 10.250.0.4:53" in text or "dnat to 10.250.0.4:53" in text
        sets = [line.split()[1] for line in text.splitlines() if line.strip().startswith("set ")]
        assert len(sets) == 2  # one per endpoint of the Service with affinity
        aff = sets[0]
        subprocess.run(["nft", "add", "element", "ip", lay.table, aff, "{ 10.250.0.9 }"],
                       check=True)
        assert not table.apply([db, web])  # same Services: nothing to do
        assert table.apply([web])
        text = listing(lay.table)
        assert "10.250.0.4" not in text and "10.250.0.9" in text  # affinity kept
        assert table.apply([])
        text = listing(lay.table)
        assert "svc-" not in text and "set aff-" not in text
    finally:
        table.forget()
    assert listing(lay.table) == ""
    assert not (tmp_path / "registry" / lay.table).exists()


def test_a_restarted_node_takes_over_its_table_without_a_gap(tmp_path: Path,
                                                             bridge: str) -> None:
    lay = layout(bridge)
    web = ServicePort("default/web:", "10.123.0.20", "TCP", 80, 0, 60, (("10.250.0.2", 80),))
    gone = ServicePort("default/gone:", "10.123.0.22", "TCP", 80, 0, 0, (("10.250.0.5", 80),))
    first = ServiceTable(lay, str(tmp_path), tmp_path / "registry")
    try:
        first.reset()
        first.apply([web, gone])
        [aff] = [line.split()[1] for line in listing(lay.table).splitlines()
                 if line.strip().startswith("set ")]
        subprocess.run(["nft", "add", "element", "ip", lay.table, aff, "{ 10.250.0.9 }"],
                       check=True)
        second = ServiceTable(lay, str(tmp_path), tmp_path / "registry")  # after a kill -9
        second.reset()
        assert "10.250.0.5" in listing(lay.table)  # still serving until the first sync
        second.apply([web])
        text = listing(lay.table)
        assert "10.250.0.5" not in text and "10.250.0.9" in text
        assert text.count("10.123.0.20 . tcp . 80") == 1
    finally:
        first.forget()


def test_tables_of_vanished_nodes_go_at_the_next_start(tmp_path: Path, bridge: str) -> None:
    gone, alive = layout(bridge), layout(bridge)
    registry = tmp_path / "registry"
    old = ServiceTable(gone, str(tmp_path / "gone-root"), registry)
    (tmp_path / "gone-root").mkdir()
    mine = ServiceTable(alive, str(tmp_path), registry)
    try:
        old.reset()
        old.apply([])
        (tmp_path / "gone-root").rmdir()
        mine.reset()
        assert listing(gone.table) == "" and not (registry / gone.table).exists()
    finally:
        old.forget()
        mine.forget()
