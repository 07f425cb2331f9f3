"""ContentStore (atomic, verified blobs) and read_layer (decompress + digest checks)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from podhost.images.content import ContentStore, LayerBlob, read_layer
from podhost.images.errors import DigestMismatchError, LayerError


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"world"))
    return buf.getvalue()


def names(stream: io.BufferedIOBase) -> list[str]:
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        return [m.name for m in tar]


def blob(data: bytes, digest: str | None = None) -> LayerBlob:
    return LayerBlob(lambda: io.BytesIO(data), digest)


def test_plain_and_gzip_layers_hash_the_uncompressed_stream() -> None:
    tar = small_tar()
    gz = gzip.compress(tar)
    assert read_layer(blob(tar, sha(tar)), sha(tar), names) == ["hello"]
    assert read_layer(blob(gz, sha(gz)), sha(tar), names) == ["hello"]
    assert read_layer(blob(gz), sha(tar), lambda s: None) is None  # drains unread data


def test_from_path(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(gzip.compress(small_tar()))
    assert read_layer(LayerBlob.from_path(path), sha(small_tar()), names) == ["hello"]


def test_digest_mismatches() -> None:
    tar = small_tar()
    gz = gzip.compress(tar)
    with pytest.raises(DigestMismatchError, match="diff_id"):
        read_layer(blob(gz), sha(b"other"), names)
    with pytest.raises(DigestMismatchError, match="blob"):
        read_layer(blob(gz, sha(b"other")), sha(tar), names)


def test_zstd_and_corrupt_gzip() -> None:
    with pytest.raises(LayerError, match="zstd"):
        read_layer(blob(b"\x28\xb5\x2f\xfd" + b"\0" * 100), sha(b""), names)
    gz = gzip.compress(small_tar() * 4)
    with pytest.raises(LayerError, match="corrupt"):
        read_layer(blob(gz[:30] + b"\xff" * 40 + gz[70:]), sha(b""), lambda s: s.read())


def test_content_store(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "blobs")
    digest = store.write(b"config")
    assert digest == sha(b"config")
    assert store.path(digest) == tmp_path / "blobs/sha256" / digest[7:]
    assert store.read(digest) == b"config" and store.exists(digest)
    assert store.ingest(io.BytesIO(b"config"), digest) == digest  # idempotent
    with pytest.raises(DigestMismatchError):
        store.write(b"tampered", digest)
    assert list(store.digests()) == [digest]  # no temp file left behind
    assert store.delete(digest) == 6 and store.delete(digest) == 0
    assert not store.exists(digest)
