"""Pure parts of issue 19: the loopback rule, --tls-verify, push's destination, config and
manifest, and the image volume's overlay data."""

from __future__ import annotations

import json

import pytest

from podhost.images.export import LayerBlobFile
from podhost.images.oci import sha256_digest
from podhost.images.pusher import ImagePushError, config_for, destination, manifest_for
from podhost.images.reference import parse_reference
from podhost.images.registries import Endpoint, is_loopback, parse_registries, with_tls_verify
from podhost.images.store import Image
from podhost.volumes.emptydir import VolumeSetupError
from podhost.volumes.image import overlay_data


@pytest.mark.parametrize("host,loopback", [
    ("localhost", True), ("localhost:5000", True), ("LOCALHOST:1", True),
    ("127.0.0.1", True), ("127.0.0.1:5000", True), ("127.10.20.30:80", True),
    ("[::1]:5000", True), ("[::1]", True), ("::1", True),
    ("128.0.0.1:5000", False), ("10.0.0.1", False), ("localhost.example.com", False),
    ("registry-1.docker.io", False), ("quay.io:443", False), ("[::2]:5000", False)])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_endpoints_may_speak_plain_http() -> None:
    none = parse_registries("")
    assert none.sources(parse_reference("127.0.0.1:5000/app:dev")) == [
        Endpoint("127.0.0.1:5000", "app", insecure=True)]
    assert none.sources(parse_reference("localhost/app")) == [
        Endpoint("localhost", "app", insecure=True)]
    assert none.sources(parse_reference("quay.io/x/y")) == [Endpoint("quay.io", "x/y")]
    mirrored = parse_registries('[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'
                                '[[registry.mirror]]\nlocation = "localhost:5001"\n')
    assert [e.insecure for e in mirrored.sources(parse_reference("nginx"))] == [True, False]


def test_tls_verify() -> None:
    eps = [Endpoint("localhost:5000", "a", True), Endpoint("quay.io", "b", False)]
    assert with_tls_verify(eps, None) == eps
    assert [e.insecure for e in with_tls_verify(eps, False)] == [True, True]
    assert [e.insecure for e in with_tls_verify(eps, True)] == [False, False]


def image(*tags: str) -> Image:
    return Image(id="sha256:" + "1" * 64, repo_tags=tags, repo_digests=(), config={},
                 chain_ids=(), size=0)


def test_push_destination() -> None:
    img = image("localhost:5000/app:dev")
    assert str(destination(img, "localhost:5000/app:dev", None)) == "localhost:5000/app:dev"
    assert str(destination(img, "x", "127.0.0.1:5000/y")) == "127.0.0.1:5000/y:latest"
    with pytest.raises(ImagePushError, match="names the image by ID"):
        destination(img, "111111111111", None)
    with pytest.raises(ImagePushError, match="is an image ID"):
        destination(img, "sha256:" + "1" * 64, None)
    with pytest.raises(ImagePushError, match="digest reference"):
        destination(img, "x", "localhost:5000/y@sha256:" + "2" * 64)


def test_push_config_and_manifest() -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}}
                        ).encode()
    assert config_for(config, ["sha256:" + "a" * 64]) is config
    changed = json.loads(config_for(config, ["sha256:" + "b" * 64]))
    assert changed["rootfs"]["diff_ids"] == ["sha256:" + "b" * 64]
    assert changed["config"] == {"Cmd": ["sh"]}
    layer = LayerBlobFile(path=None, digest="sha256:" + "c" * 64, size=7,  # type: ignore[arg-type]
                          diff_id="sha256:" + "b" * 64)
    manifest = json.loads(manifest_for(config, [layer]))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256_digest(config), "size": len(config)}
    assert manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": "sha256:" + "c" * 64, "size": 7}]


def test_image_volume_overlay_data() -> None:
    assert overlay_data(["/l/top", "/l/bottom"]) == "lowerdir=/l/top:/l/bottom"
    with pytest.raises(VolumeSetupError):
        overlay_data(["/l/a:b", "/l/c"])
