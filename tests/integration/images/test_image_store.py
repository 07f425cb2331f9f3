"""ImageStore against real archives built here: OCI layouts and docker save tars."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from podhost.images.archive import host_platform
from podhost.images.errors import (
    ArchiveError,
    DigestMismatchError,
    ImageInUseError,
    ImageNotFoundError,
    InvalidReferenceError,
    LayerError,
)
from podhost.images.store import ImageStore
from tests.integration.images.image_archives import (
    OciImage,
    docker_archive,
    image_config,
    layer_tar,
    oci_archive,
    sha256,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

BASE = layer_tar({"bin": None, "bin/sh": b"#!/bin/sh\n", "etc": None,
                  "etc/passwd": b"root:x:0:0::/root:/bin/sh\n", "etc/motd": b"welcome\n"})
APP = layer_tar({"app": None, "app/run": b"run", "etc": None, "etc/motd": ("whiteout",)})


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def layer_dirs_on_disk(store: ImageStore) -> list[str]:
    return sorted(os.listdir(store.root / "layers"))


def test_load_oci_archive(store: ImageStore, tmp_path: Path) -> None:
    archive = oci_archive(tmp_path / "app.oci.tar",
                          [OciImage([BASE, APP], ref_name="docker.io/library/app:1.0",
                                    cmd=["/app/run"])])
    [image] = store.load_archive(archive)
    config, manifest, _ = OciImage([BASE, APP], cmd=["/app/run"]).blobs()
    assert image.id == sha256(config)
    assert image.repo_tags == ("docker.io/library/app:1.0",)
    assert image.repo_digests == (f"docker.io/library/app@{sha256(manifest)}",)
    assert image.manifest_digest == sha256(manifest)
    assert image.config["config"]["Cmd"] == ["/app/run"]
    assert image.size == len(b"#!/bin/sh\n" b"root:x:0:0::/root:/bin/sh\n" b"welcome\n" b"run")
    assert image.created == "2024-01-02T03:04:05Z"
    top, bottom = store.layer_dirs(image)
    assert (bottom / "etc/passwd").read_bytes().startswith(b"root")
    assert (top / "etc/motd").is_char_device() and (top / "app/run").read_bytes() == b"run"
    assert [p.parent.name for p in (top, bottom)] == [c[7:] for c in reversed(image.chain_ids)]
    assert image.chain_ids[0] == sha256(BASE)
    assert store.list() == [image]
    assert (store.root.stat().st_mode & 0o777) == 0o700  # setuid files inside: host users out
    # layer blobs are not kept, only config + manifest
    assert sorted(os.listdir(store.root / "blobs/sha256")) == sorted(
        [sha256(config)[7:], sha256(manifest)[7:]])


@pytest.mark.parametrize(("ref_name", "repository", "tags"), [
    ("busybox:1.36", None, ("docker.io/library/busybox:1.36",)),
    ("localhost/app", None, ("localhost/app:latest",)),
    ("1.36", None, ()),
    ("1.36", "quay.io/me/bb", ("quay.io/me/bb:1.36",)),
    (None, None, ()),
])
def test_oci_ref_name_forms(store: ImageStore, tmp_path: Path, ref_name: str | None,
                            repository: str | None, tags: tuple[str, ...]) -> None:
    archive = oci_archive(tmp_path / "a.tar", [OciImage([BASE], ref_name=ref_name)])
    [image] = store.load_archive(archive, repository=repository)
    assert image.repo_tags == tags
    assert store.get(image.id[7:19]) == image  # untagged images are reachable by ID


def test_load_docker_archive_legacy_and_modern(store: ImageStore, tmp_path: Path) -> None:
    legacy = docker_archive(tmp_path / "legacy.tar", [BASE, APP], ["app:1.0", "app:latest"])
    [image] = store.load_archive(legacy)
    assert image.id == sha256(image_config([BASE, APP]))
    assert image.repo_tags == ("docker.io/library/app:1.0", "docker.io/library/app:latest")
    assert image.repo_digests == ()
    modern = docker_archive(tmp_path / "modern.tar", [BASE], ["quay.io/x/base:2"],
                            compress=True, modern=True)
    [base] = store.load_archive(modern)
    assert base.repo_tags == ("quay.io/x/base:2",)
    assert len(layer_dirs_on_disk(store)) == 2  # BASE is shared: stored once


def test_shared_layers_are_stored_once_and_reload_is_idempotent(store: ImageStore,
                                                                  tmp_path: Path) -> None:
    oci = oci_archive(tmp_path / "a.tar", [OciImage([BASE, APP], ref_name="app:oci")])
    docker = docker_archive(tmp_path / "b.tar", [BASE], ["base:docker"])
    store.load_archive(oci)
    store.load_archive(docker)
    assert len(layer_dirs_on_disk(store)) == 2
    marker = store.root / "layers" / sha256(BASE)[7:] / "layer.json"
    before = marker.stat().st_mtime_ns
    store.load_archive(oci)
    store.load_archive(docker)
    assert marker.stat().st_mtime_ns == before  # not unpacked again
    assert len(store.list()) == 2
    assert not [n for n in layer_dirs_on_disk(store) if ".tmp-" in n]


def test_multi_image_archive_and_tag_moves(store: ImageStore, tmp_path: Path) -> None:
    archive = oci_archive(tmp_path / "two.tar", [OciImage([BASE], ref_name="x:1"),
                                                 OciImage([BASE, APP], ref_name="y:1")])
    a, b = store.load_archive(archive)
    assert (a.repo_tags, b.repo_tags) == (("docker.io/library/x:1",), ("docker.io/library/y:1",))
    moved = store.tag(a, "y:1")
    assert "docker.io/library/y:1" in moved.repo_tags
    assert store.get(b.id).repo_tags == ()
    assert store.get("y:1").id == a.id
    with pytest.raises(InvalidReferenceError):
        store.tag(a, f"y@{a.id}")


def test_nested_index_picks_this_platform(store: ImageStore, tmp_path: Path) -> None:
    native, foreign = OciImage([BASE], cmd=["native"]), OciImage([APP], cmd=["foreign"])
    blobs: dict[str, bytes] = {}
    descs = []
    os_name, arch, _variant = host_platform()
    other = "s390x" if arch != "s390x" else "amd64"
    for image, platform in ((foreign, {"os": "linux", "architecture": other}),
                            (native, {"os": os_name, "architecture": arch})):
        _, manifest, image_blobs = image.blobs()
        blobs.update(image_blobs)
        descs.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "digest": sha256(manifest), "size": len(manifest), "platform": platform})
    index = json.dumps({"schemaVersion": 2, "manifests": descs}).encode()
    blobs[sha256(index)] = index
    top = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(index),
            "size": len(index), "annotations": {
                "io.containerd.image.name": "docker.io/library/multi:1",
                "org.opencontainers.image.ref.name": "1"}}]
    [image] = store.load_archive(oci_archive(tmp_path / "m.tar", [], blobs, index=top))
    assert image.config["config"]["Cmd"] == ["native"]
    assert image.repo_tags == ("docker.io/library/multi:1",)


def test_get_by_name_id_prefix_and_digest(store: ImageStore, tmp_path: Path) -> None:
    [image] = store.load_archive(oci_archive(tmp_path / "a.tar",
                                             [OciImage([BASE], ref_name="busybox:latest")]))
    hex_ = image.id[7:]
    for key in ("busybox", "busybox:latest", "docker.io/library/busybox:latest",
                "library/busybox", image.id, hex_, hex_[:12], f"sha256:{hex_[:12]}",
                f"busybox@{image.manifest_digest}", f"busybox:other@{image.manifest_digest}"):
        assert store.get(key) == image, key
    for key, message in (("nginx", 'image "nginx" not found'),
                         (hex_[:11], f'image "{hex_[:11]}" not found'),
                         ("sha256:" + "0" * 64, "not found"),
                         (f"nginx@{image.manifest_digest}", "not found")):
        with pytest.raises(ImageNotFoundError, match=message):
            store.get(key)
    with pytest.raises(InvalidReferenceError):
        store.get("Busybox")


def test_corrupt_archives(store: ImageStore, tmp_path: Path) -> None:
    bad_diff = OciImage([BASE])
    config, manifest, blobs = bad_diff.blobs()
    cfg = json.loads(config)
    cfg["rootfs"]["diff_ids"] = [sha256(b"something else")]
    lie = json.dumps(cfg).encode()
    manifest_obj = json.loads(manifest)
    manifest_obj["config"] = {"mediaType": "x", "digest": sha256(lie), "size": len(lie)}
    manifest2 = json.dumps(manifest_obj).encode()
    blobs.update({sha256(lie): lie, sha256(manifest2): manifest2})
    index = [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": sha256(manifest2), "size": len(manifest2)}]
    with pytest.raises(DigestMismatchError, match="diff_id"):
        store.load_archive(oci_archive(tmp_path / "bad.tar", [], blobs, index=index))
    assert layer_dirs_on_disk(store) == []  # nothing half-unpacked survives
    assert store.list() == []

    zstd = tmp_path / "zstd.tar"
    docker_archive(zstd, [BASE], ["z:1"])
    with tarfile.open(zstd) as tar, tarfile.open(tmp_path / "z2.tar", "w") as out:
        for m in tar.getmembers():
            data = tar.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith("layer.tar"):
                data = b"\x28\xb5\x2f\xfd" + data
                m.size = len(data)
            out.addfile(m, io.BytesIO(data))
    with pytest.raises(LayerError, match="zstd"):
        store.load_archive(tmp_path / "z2.tar")

    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ArchiveError):
        store.load_archive(tmp_path / "junk.tar")
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(ArchiveError, match="neither"):
        store.load_archive(empty)


def test_gzipped_archive_and_layer_blob_digest(store: ImageStore, tmp_path: Path) -> None:
    archive = oci_archive(tmp_path / "a.tar", [OciImage([BASE], ref_name="gz:1")])
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(archive.read_bytes()))
    [image] = store.load_archive(tmp_path / "a.tar.gz")
    assert image.repo_tags == ("docker.io/library/gz:1",)


def test_remove_untags_then_deletes_unshared_layers(store: ImageStore, tmp_path: Path) -> None:
    store.load_archive(docker_archive(tmp_path / "b.tar", [BASE], ["base:1", "base:2"]))
    [app] = store.load_archive(docker_archive(tmp_path / "a.tar", [BASE, APP], ["app:1"]))
    base = store.get("base:1")
    r = store.remove("base:1")
    assert (r.untagged, r.deleted) == (("docker.io/library/base:1",), None)
    assert store.get("base:2").repo_tags == ("docker.io/library/base:2",)
    with pytest.raises(ImageInUseError):
        store.remove("base:2", in_use={base.id})
    with pytest.raises(ImageInUseError):
        store.remove(app.id[7:], in_use={app.id[7:]})
    assert store.get("base:2").repo_tags == ("docker.io/library/base:2",)  # refusal changed nothing
    r = store.remove("base:2")
    assert r.deleted == base.id
    assert r.freed > 0  # the config blob; BASE is still used by app
    assert layer_dirs_on_disk(store) == sorted(c[7:] for c in app.chain_ids)
    r = store.remove("app:1")
    assert r.deleted == app.id and r.freed >= app.size
    assert layer_dirs_on_disk(store) == [] and os.listdir(store.root / "blobs/sha256") == []
    with pytest.raises(ImageNotFoundError):
        store.remove("app:1")


def test_prune_keeps_images_in_use(store: ImageStore, tmp_path: Path) -> None:
    [base] = store.load_archive(docker_archive(tmp_path / "b.tar", [BASE], ["base:1"]))
    store.load_archive(docker_archive(tmp_path / "a.tar", [BASE, APP], ["app:1"]))
    (store.root / "layers" / "deadbeef.tmp-123").mkdir()  # leftover of a crashed load
    freed = store.prune(in_use={base.id})
    assert freed >= len(b"run")
    assert [i.id for i in store.list()] == [base.id]
    assert layer_dirs_on_disk(store) == [base.chain_ids[0][7:]]
    assert store.prune(in_use={base.id}) == 0
    assert store.prune(dangling_only=True) == 0  # base is tagged
    assert store.prune() > 0 and store.list() == [] and layer_dirs_on_disk(store) == []


def test_add_image_from_pulled_blobs(store: ImageStore, tmp_path: Path) -> None:
    """The entry point a registry puller uses: config bytes + blob files + manifest."""
    _, manifest, blobs = OciImage([BASE, APP]).blobs()
    config = image_config([BASE, APP])
    layer_blobs = []
    for desc in json.loads(manifest)["layers"]:
        path = tmp_path / desc["digest"][7:]
        path.write_bytes(blobs[desc["digest"]])
        layer_blobs.append(path)
    assert store.missing_layers(config) == [0, 1]
    image = store.add_image(config, layer_blobs, manifest=manifest, repo_tags=["reg.io/a/b:1"],
                            repo_digests=[f"reg.io/a/b@{sha256(manifest)}"])
    assert store.missing_layers(config) == []
    assert store.get(f"reg.io/a/b@{sha256(manifest)}") == image
    with pytest.raises(ArchiveError, match="2 layers"):
        store.add_image(config, layer_blobs[:1])


def test_concurrent_loads_from_two_processes(tmp_path: Path) -> None:
    archives = [oci_archive(tmp_path / f"{i}.tar", [OciImage([BASE, APP], ref_name=f"app:{i}")])
                for i in range(4)]
    code = ("import sys; from podhost.images.store import ImageStore; "
            "ImageStore(sys.argv[1]).load_archive(sys.argv[2])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "images"), str(a)])
             for a in archives]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    store = ImageStore(tmp_path / "images")
    [image] = store.list()
    assert sorted(image.repo_tags) == [f"docker.io/library/app:{i}" for i in range(4)]
    assert len(layer_dirs_on_disk(store)) == 2


TEST_IMAGES = Path(__file__).resolve().parents[3] / "build" / "test-images"


@pytest.mark.parametrize(("name", "probe"), [("busybox", "bin/busybox"),
                                             ("nginx", "usr/sbin/nginx")])
def test_project_test_images(tmp_path: Path, name: str, probe: str) -> None:
    """The archives `make images` builds load in both formats to the same image."""
    archives = [TEST_IMAGES / f"{name}.{kind}.tar" for kind in ("oci", "docker")]
    if not all(a.exists() for a in archives):
        pytest.skip(f"run `make images` first ({name} archives missing)")
    store = ImageStore(tmp_path / "images")
    [oci] = store.load_archive(archives[0])
    [docker] = store.load_archive(archives[1])
    assert oci.id == docker.id
    image = store.get(name)
    assert image.repo_tags == (f"docker.io/library/{name}:latest",)
    assert image.repo_digests == oci.repo_digests
    assert any((d / probe).exists() for d in store.layer_dirs(image))
    stamp = TEST_IMAGES / f".stamp-{name}"
    if stamp.exists():  # the builder's own record of what it built
        built = json.loads(stamp.read_text())
        assert (image.id, oci.manifest_digest) == (built["image_id"], built["manifest"])
