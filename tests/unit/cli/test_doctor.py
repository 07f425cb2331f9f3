"""`podhost doctor` never tracebacks and never changes a directory that holds no node."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from podhost.cli import node


def test_a_directory_without_a_node_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # `podhost doctor --root /tmp`
    check = node._state_files_check(shared)
    assert check.ok and "holds no node" in check.detail
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_a_check_that_cannot_look_fails_with_the_fix() -> None:
    def denied() -> node.Check:
        raise PermissionError(13, "Permission denied", "/var/lib/podhost/pki")

    check = node._checked("disk", denied)
    assert not check.ok and "Permission denied" in check.detail
    assert check.fix == "run `sudo podhost doctor`"
