"""Issue 19 with real mounts: an image volume is the image's root filesystem, read-only,
nosuid and nodev (an overlay of several layers, a bind of one); push's layer export turns the
overlayfs whiteouts back into OCI ones and unpacks to the same tree."""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from podhost.images.export import export_layer
from podhost.images.pusher import config_for
from podhost.images.store import ImageStore
from podhost.volumes import image as image_volume
from tests.integration.images.image_archives import OciImage, layer_tar, oci_archive

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root and overlayfs")]

BASE = layer_tar({"bin": None, "bin/sh": b"sh", "etc": None, "etc/motd": b"hi",
                  "var": None, "var/cache": None, "var/cache/old": b"old"})
TOP = layer_tar({"etc": None, "etc/motd": ("whiteout",), "var": None, "var/cache": None,
                 "var/cache/": ("opaque",), "var/cache/new": b"new", "bin/tool": b"t"})


def mount_options(path: Path) -> set[str]:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(path):
                return set(fields[5].split(","))
    return set()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    s = ImageStore(tmp_path / "images")
    s.load_archive(oci_archive(tmp_path / "a.tar", [OciImage([BASE, TOP], ref_name="t:1"),
                                                    OciImage([BASE], ref_name="one:1")]))
    return s


@pytest.mark.parametrize("name", ["t:1", "one:1"])
def test_image_volume_is_the_rootfs_read_only(store: ImageStore, tmp_path: Path,
                                              name: str) -> None:
    pod_dir = tmp_path / "pod"
    img = store.get(name)
    path = image_volume.set_up(pod_dir, "site", store.layer_dirs(img), img.id)
    try:
        assert path == pod_dir / "volumes" / "kubernetes.io~image" / "site"
        assert image_volume.set_up(pod_dir, "site", store.layer_dirs(img), img.id) == path
        assert {"ro", "nosuid", "nodev"} <= mount_options(path)
        assert "noexec" not in mount_options(path)
        assert (path / "bin" / "sh").read_bytes() == b"sh"
        if name == "t:1":
            assert not (path / "etc" / "motd").exists()
            assert sorted(os.listdir(path / "var" / "cache")) == ["new"]
        with pytest.raises(OSError, match="Read-only file system"):
            (path / "new-file").write_text("x")
        assert image_volume.image_ids(pod_dir) == {img.id}
    finally:
        image_volume.tear_down_all(pod_dir)
    assert not (pod_dir / "volumes" / "kubernetes.io~image").exists()
    assert (store.layer_dirs(img)[-1] / "bin" / "sh").exists()  # the layers are untouched


def test_export_turns_whiteouts_back(store: ImageStore, tmp_path: Path) -> None:
    img = store.get("t:1")
    top, base = store.layer_dirs(img)
    blob = export_layer(top, tmp_path / "top.tar.gz")
    data = blob.path.read_bytes()
    assert blob.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    raw = gzip.decompress(data)
    assert blob.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    with tarfile.open(tmp_path / "top.tar.gz") as tar:
        names = tar.getnames()
    assert "etc/.wh.motd" in names and "var/cache/.wh..wh..opq" in names
    assert "etc/motd" not in names
    again = export_layer(top, tmp_path / "again.tar.gz")
    assert again.digest == blob.digest  # deterministic
    base_blob = export_layer(base, tmp_path / "base.tar.gz")
    copy = ImageStore(tmp_path / "copy")
    config = store.content.read(img.id)
    new = copy.add_image(config_for(config, [base_blob.diff_id, blob.diff_id]),
                         [base_blob.path, blob.path])
    path = image_volume.set_up(tmp_path / "pod2", "v", copy.layer_dirs(new))
    try:
        assert not (path / "etc" / "motd").exists()
        assert sorted(os.listdir(path / "var" / "cache")) == ["new"]
        assert (path / "bin" / "tool").read_bytes() == b"t"
    finally:
        image_volume.tear_down_all(tmp_path / "pod2")
