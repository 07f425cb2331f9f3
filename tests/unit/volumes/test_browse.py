"""Reading and writing inside a volume from the node: no path leaves it (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podhost.volumes import browse
from podhost.volumes.browse import BrowseError


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "vol"
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "out.txt").write_text("hello\n")
    (tmp_path / "secret").write_text("outside\n")
    os.symlink("/etc", root / "abs")
    os.symlink("../secret", root / "rel")
    os.symlink("logs", root / "inside")
    return root


def read(root: Path, path: str) -> bytes:
    return b"".join(browse.read_file(root, path, "v"))


def test_reads_and_lists_inside(volume: Path) -> None:
    assert read(volume, "/logs/out.txt") == b"hello\n"
    kind, entries = browse.list_path(volume, "", "v")
    assert kind == "directory"
    assert [(e.name, e.type, e.target) for e in entries] == [
        ("abs", "symlink", "/etc"), ("inside", "symlink", "logs"), ("logs", "directory", ""),
        ("rel", "symlink", "../secret")]
    kind, entries = browse.list_path(volume, "logs/out.txt", "v")
    assert kind == "file" and entries[0].size == 6


@pytest.mark.parametrize("path, kind, text", [
    ("../secret", "invalid", '".." is not allowed'),
    ("logs/../../secret", "invalid", '".." is not allowed'),
    ("abs/passwd", "forbidden", 'through the symbolic link "abs"'),
    ("rel", "forbidden", "is a symbolic link"),
    ("inside/out.txt", "forbidden", 'through the symbolic link "inside"'),
    ("logs", "invalid", "is a directory"),
    ("nope", "not-found", "no such file or directory"),
])
def test_no_way_out(volume: Path, path: str, kind: str, text: str) -> None:
    with pytest.raises(BrowseError) as e:
        read(volume, path)
    assert e.value.kind == kind and text in str(e.value)


def test_writes_stay_inside(volume: Path, tmp_path: Path) -> None:
    browse.write_file(volume, "new/dir/f.txt", "v", b"abc")
    browse.write_file(volume, "new/dir/f.txt", "v", b"def", offset=3)
    assert (volume / "new" / "dir" / "f.txt").read_bytes() == b"abcdef"
    browse.make_dir(volume, "made/deep", "v")
    assert (volume / "made" / "deep").is_dir()
    for path in ("rel", "abs/x", "../x", "inside/x"):
        with pytest.raises(BrowseError):
            browse.write_file(volume, path, "v", b"no")
    assert (tmp_path / "secret").read_text() == "outside\n"
    assert not (volume / "logs" / "x").exists()


def test_a_missing_volume_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BrowseError) as e:
        browse.list_path(tmp_path / "gone", "", "v")
    assert e.value.kind == "not-found"
