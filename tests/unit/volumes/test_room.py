"""What a new claim can have: the pool's free space less what other claims may still write."""

from __future__ import annotations

from pathlib import Path

from podhost.volumes.localpv import Room, promised

QGROUPS = """qgroupid         rfer         excl     max_rfer
--------         ----         ----     --------
0/5             16384        16384         none
0/256         4194304      4194304     67108864
0/257       300000000    300000000    268435456
0/258           16384        16384   1073741824
"""
GI = 1 << 30


def test_promised_is_limits_less_use() -> None:
    assert promised(QGROUPS) == (67108864 - 4194304) + 0 + (1073741824 - 16384)


def test_a_claim_larger_than_the_room_is_refused_with_the_figures() -> None:
    room = Room(free=70 * GI, promised=5 * GI, where=Path("/var/lib/podhost/storage"))
    assert room.refuse("64Gi", 64 * GI) == ""
    assert room.refuse("10Ti", 10 << 40) == (
        "not enough free space on the node: the claim asks for 10Ti, the pool can hold 65.0Gi "
        "more (70.0Gi free on the disk of /var/lib/podhost/storage, 5.0Gi of it promised to "
        "other claims)")
    assert "can hold 0.0Gi more" in Room(1 * GI, 2 * GI, Path("/x")).refuse("1Mi", 1 << 20)
