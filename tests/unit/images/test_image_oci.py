"""Pure OCI metadata helpers: chain IDs, configs, indexes, names, platforms."""

from __future__ import annotations

import hashlib
import json

import pytest

from podhost.images.errors import ArchiveError, DigestMismatchError
from podhost.images.oci import (
    Descriptor,
    blob_path,
    chain_id,
    chain_ids,
    digest_from_blob_path,
    document_kind,
    names_from_annotations,
    parse_config,
    parse_docker_manifest,
    parse_index,
    parse_manifest,
    platform_candidates,
    sha256_digest,
    verify_digest,
)


def d(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b, c = d(1), d(2), d(3)
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_id(None, a) == a
    assert chain_ids([]) == []


def test_chain_id_known_value() -> None:
    # The two bottom layers of an image: the value is fixed by the spec's formula.
    l0 = "sha256:" + "a" * 64
    l1 = "sha256:" + "b" * 64
    assert chain_id(l0, l1) == sha256_digest(f"{l0} {l1}".encode())
    assert chain_id(l0, l1) != chain_id(l1, l0)


def test_parse_config() -> None:
    raw = json.dumps({"config": {"Cmd": ["sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [d(1), d(2)]}}).encode()
    config, diff_ids = parse_config(raw)
    assert config["config"]["Cmd"] == ["sh"]
    assert diff_ids == [d(1), d(2)]


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", b"{}",
    json.dumps({"rootfs": {"type": "other", "diff_ids": []}}).encode(),
    json.dumps({"rootfs": {"type": "layers", "diff_ids": ["md5:abc"]}}).encode(),
    json.dumps({"rootfs": {"type": "layers", "diff_ids": "x"}}).encode(),
])
def test_parse_config_rejects(raw: bytes) -> None:
    with pytest.raises(ArchiveError):
        parse_config(raw)


def test_parse_index_and_manifest() -> None:
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(1), "size": 5,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    [desc] = parse_index(json.dumps(index).encode())
    assert desc.digest == d(1) and desc.size == 5
    assert desc.annotations == {"org.opencontainers.image.ref.name": "latest"}
    manifest = {"config": {"digest": d(2), "size": 1}, "layers": [{"digest": d(3), "size": 2}]}
    parsed = parse_manifest(json.dumps(manifest).encode())
    assert parsed.config.digest == d(2)
    assert [x.digest for x in parsed.layers] == [d(3)]
    with pytest.raises(ArchiveError):
        parse_index(b'{"manifests": [{"digest": "sha256:short"}]}')
    with pytest.raises(ArchiveError):
        parse_manifest(b'{"layers": []}')


def test_document_kind() -> None:
    assert document_kind("application/vnd.oci.image.index.v1+json", b"") == "index"
    assert document_kind("application/vnd.docker.distribution.manifest.v2+json", b"") == "manifest"
    assert document_kind("", b'{"manifests": []}') == "index"
    assert document_kind("", b'{"config": {}, "layers": []}') == "manifest"


@pytest.mark.parametrize(("annotations", "repository", "expected"), [
    ({}, None, []),
    ({"org.opencontainers.image.ref.name": "docker.io/library/nginx:1.25"}, None,
     ["docker.io/library/nginx:1.25"]),
    ({"org.opencontainers.image.ref.name": "nginx:1.25"}, None, ["docker.io/library/nginx:1.25"]),
    ({"org.opencontainers.image.ref.name": "localhost/app"}, None, ["localhost/app:latest"]),
    ({"org.opencontainers.image.ref.name": "1.25"}, None, []),
    ({"org.opencontainers.image.ref.name": "1.25"}, "nginx", ["docker.io/library/nginx:1.25"]),
    ({"org.opencontainers.image.ref.name": "latest",
      "io.containerd.image.name": "docker.io/library/busybox:latest"}, None,
     ["docker.io/library/busybox:latest"]),
])
def test_names_from_annotations(annotations: dict[str, str], repository: str | None,
                                expected: list[str]) -> None:
    assert [str(r) for r in names_from_annotations(annotations, repository)] == expected


def test_names_from_annotations_rejects_bad_names() -> None:
    with pytest.raises(ArchiveError, match="Nginx"):
        names_from_annotations({"org.opencontainers.image.ref.name": "Nginx:1"})


def _desc(n: int, platform: dict | None = None, **annotations: str) -> Descriptor:
    return Descriptor("", d(n), 1, annotations, platform)


def test_platform_candidates() -> None:
    arm = _desc(1, {"os": "linux", "architecture": "arm64", "variant": "v8"})
    amd = _desc(2, {"os": "linux", "architecture": "amd64"})
    att = _desc(3, {"os": "unknown", "architecture": "unknown"},
                **{"vnd.docker.reference.type": "attestation-manifest"})
    bare = _desc(4)
    assert platform_candidates([arm, att, amd, bare], "linux", "amd64") == [amd, bare]
    assert platform_candidates([amd, arm], "linux", "arm64", "v8") == [arm]
    assert platform_candidates([att], "linux", "amd64") == []


def test_docker_manifest() -> None:
    raw = json.dumps([{"Config": "abc.json", "RepoTags": ["app:1", "quay.io/x/y:2"],
                       "Layers": ["a/layer.tar"]},
                      {"Config": "def.json", "RepoTags": None, "Layers": []}]).encode()
    first, second = parse_docker_manifest(raw)
    assert [str(t) for t in first.repo_tags] == ["docker.io/library/app:1", "quay.io/x/y:2"]
    assert first.layers == ("a/layer.tar",)
    assert second.repo_tags == ()
    for bad in (b"{}", b'[{"Layers": []}]', b'[{"Config": "c", "Layers": [1]}]'):
        with pytest.raises(ArchiveError):
            parse_docker_manifest(bad)


def test_blob_paths_and_verification() -> None:
    assert blob_path(d(1)) == "blobs/sha256/" + d(1)[7:]
    assert digest_from_blob_path("./blobs/sha256/" + d(1)[7:]) == d(1)
    assert digest_from_blob_path("abc/layer.tar") is None
    assert verify_digest("x", sha256_digest(b"hi"), b"hi") == sha256_digest(b"hi")
    with pytest.raises(DigestMismatchError, match="expected"):
        verify_digest("config", d(1), b"hi")
