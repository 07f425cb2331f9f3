"""Overlay rootfs from stored layers: mount, whiteouts, isolation, unmount and cleanup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podhost.images.errors import SnapshotError
from podhost.images.snapshots import overlay_options, prepare_rootfs, remove_rootfs
from podhost.images.store import ImageStore
from tests.integration.images.image_archives import OciImage, layer_tar, oci_archive

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root and overlayfs")]

BASE = layer_tar({"bin": None, "bin/sh": b"sh", "etc": None, "etc/motd": b"hi",
                  "etc/hosts": b"127.0.0.1", "var": None, "var/cache": None,
                  "var/cache/old": b"old"})
TOP = layer_tar({"etc": None, "etc/motd": ("whiteout",), "var": None, "var/cache": None,
                 "var/cache/": ("opaque",), "var/cache/new": b"new", "bin/tool": b"t"})


def mountinfo_has(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    store = ImageStore(tmp_path / "images")
    [image] = store.load_archive(oci_archive(tmp_path / "a.tar",
                                             [OciImage([BASE, TOP], ref_name="t:1")]))
    return store.layer_dirs(image)


def test_overlay_options_pure() -> None:
    assert overlay_options(["/l/top", "/l/bottom"], "/c/upper", "/c/work") == (
        "lowerdir=/l/top:/l/bottom,upperdir=/c/upper,workdir=/c/work")
    for bad in (["/a,b"], ["/a:b"], []):
        with pytest.raises(SnapshotError):
            overlay_options(bad, "/u", "/w")


def test_prepare_and_remove_rootfs(tmp_path: Path, layers: list[Path]) -> None:
    container = tmp_path / "containers" / "c1"
    rootfs = prepare_rootfs(container, layers)
    try:
        assert rootfs == container / "rootfs" and mountinfo_has(rootfs)
        assert (rootfs / "bin/sh").read_bytes() == b"sh"
        assert (rootfs / "bin/tool").read_bytes() == b"t"
        assert not (rootfs / "etc/motd").exists()  # whiteout in the upper layer hides it
        assert (rootfs / "etc/hosts").exists()
        assert os.listdir(rootfs / "var/cache") == ["new"]  # opaque dir hides "old"
        (rootfs / "etc/hosts").write_text("changed")
        (rootfs / "bin/sh").unlink()
        assert prepare_rootfs(container, layers) == rootfs  # idempotent
        with open("/proc/self/mountinfo") as f:
            assert sum(1 for line in f if str(rootfs) in line) == 1
    finally:
        remove_rootfs(container)
    assert not mountinfo_has(rootfs)
    assert sorted(os.listdir(container)) == []
    bottom = layers[-1]
    assert (bottom / "etc/hosts").read_bytes() == b"127.0.0.1"  # layers untouched
    assert (bottom / "bin/sh").exists()
    remove_rootfs(container)  # idempotent
    remove_rootfs(tmp_path / "never-created")


def test_two_containers_share_layers_but_not_writes(tmp_path: Path, layers: list[Path]) -> None:
    a = prepare_rootfs(tmp_path / "a", layers)
    b = prepare_rootfs(tmp_path / "b", layers)
    try:
        (a / "only-in-a").write_text("a")
        assert not (b / "only-in-a").exists()
        assert (tmp_path / "a/upper/only-in-a").exists()
    finally:
        remove_rootfs(tmp_path / "a")
        remove_rootfs(tmp_path / "b")
    assert not mountinfo_has(a) and not mountinfo_has(b)


def test_many_layers_use_short_paths(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    lowers = []
    for i in range(60):
        d = deep / f"{i:064x}" / "diff"
        d.mkdir(parents=True)
        (d / f"f{i}").write_text(str(i))
        lowers.append(d)
    assert len(",".join(map(str, lowers))) > 4096
    rootfs = prepare_rootfs(tmp_path / "c", lowers)
    try:
        assert len(os.listdir(rootfs)) == 60
        assert (rootfs / "f59").read_text() == "59"
    finally:
        remove_rootfs(tmp_path / "c")
    assert not mountinfo_has(rootfs)


def test_image_without_layers(tmp_path: Path) -> None:
    rootfs = prepare_rootfs(tmp_path / "c", [])
    try:
        assert os.listdir(rootfs) == []
    finally:
        remove_rootfs(tmp_path / "c")
    assert os.listdir(tmp_path / "c") == []
