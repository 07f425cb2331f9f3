"""Content-addressed blobs on disk (containerd's ContentStore) and verified layer streams.

`ContentStore` keeps small blobs (configs, manifests) under `blobs/sha256/<hex>`, each written
to a temp file in the same directory, verified and renamed into place. `read_layer` streams one
layer blob (gzip or plain tar), hashing both the blob and the uncompressed tar so the caller can
check the digest and the diff_id without ever holding a layer in memory. This module must not
know about images, tags or the metadata database.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import queue
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, TypeVar

from podhost.images.errors import DigestMismatchError, ImageError, LayerError
from podhost.images.oci import check_sha256

CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

T = TypeVar("T")


class ByteStream(Protocol):
    """A readable byte stream: read(n) returns at most n bytes (all that is left when n < 0),
    b"" at the end. Files, GzipFile and the readers below all are."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class DigestReader:
    """A read-only stream that hashes (sha256) and counts every byte read through it."""

    def __init__(self, raw: ByteStream) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        while self.read(CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


@dataclass(frozen=True)
class LayerBlob:
    """Where to read one layer blob (gzip or plain tar) and, when known, its digest."""

    open: Callable[[], IO[bytes]]
    digest: str | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], digest: str | None = None) -> LayerBlob:
        return cls(lambda: open(path, "rb"), digest)


def _uncompressed(blob: DigestReader, what: str) -> ByteStream:
    """The tar stream inside a blob: gunzipped when the blob starts with the gzip magic."""
    head = blob.read(4)
    while len(head) < 4 and (more := blob.read(4 - len(head))):
        head += more
    source = _Prefixed(head, blob)
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=source, mode="rb")
    if head == ZSTD_MAGIC:
        raise LayerError(f"{what}: zstd-compressed layers are not supported")
    return source


def read_layer(blob: LayerBlob, diff_id: str, consume: Callable[[ByteStream], T],
               what: str = "layer") -> T:
    """Feed the uncompressed tar of blob to consume(), then verify the blob digest and diff_id.

    Reading, hashing and gunzipping run in a thread of their own (zlib and hashlib release the
    GIL) while consume() turns the tar into files, so the two overlap on separate cores.
    Raises DigestMismatchError (after consume() ran: the caller must discard its output).
    """
    with blob.open() as raw:
        blob_reader = DigestReader(raw)
        pipe = _Prefetch(lambda: _uncompressed(blob_reader, what), blob_reader)
        try:
            result = consume(pipe)
            pipe.drain()
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise LayerError(f"{what}: corrupt layer stream: {e}") from None
        finally:
            pipe.close()
    if blob.digest is not None and blob.digest != blob_reader.digest():
        raise DigestMismatchError(f"{what} blob", blob.digest, blob_reader.digest())
    if pipe.tar_digest != diff_id:
        raise DigestMismatchError(f"{what} diff_id", diff_id, pipe.tar_digest)
    return result


class _Prefetch:
    """A read-only stream of the uncompressed tar, filled by a producer thread that reads the
    blob, hashes it, decompresses it and hashes the tar (a bounded queue of CHUNK pieces)."""

    _EOF = b""

    def __init__(self, open_tar: Callable[[], ByteStream], blob_reader: DigestReader) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._buffer, self._pos, self._done = b"", 0, False
        self.tar_digest = ""
        self._thread = threading.Thread(target=self._produce, args=(open_tar, blob_reader),
                                        name="layer-reader", daemon=True)
        self._thread.start()

    def _produce(self, open_tar: Callable[[], ByteStream], blob_reader: DigestReader) -> None:
        try:
            stream = open_tar()
            with contextlib.closing(stream):
                tar_reader = DigestReader(stream)
                while chunk := tar_reader.read(CHUNK):
                    if not self._put(chunk):
                        return
            blob_reader.drain()
            self.tar_digest = tar_reader.digest()
            self._put(self._EOF)
        except BaseException as e:  # handed to the consumer, raised there
            self._put(e)

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _next(self) -> bytes:
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self._done = item == self._EOF
        return item

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buffer[self._pos:]]
            while chunk := self._next():
                parts.append(chunk)
            self._buffer, self._pos = b"", 0
            return b"".join(parts)
        while self._pos >= len(self._buffer):
            self._buffer, self._pos = self._next(), 0
            if not self._buffer:
                return b""
        if self._pos == 0 and n >= len(self._buffer):
            data = self._buffer
        else:
            data = self._buffer[self._pos:self._pos + n]
        self._pos += len(data)
        return data

    def drain(self) -> None:
        """Read whatever the consumer left unread, so both digests cover the whole blob."""
        self._buffer, self._pos = b"", 0
        while self._next():
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class ContentStore:
    """Blobs addressed by digest under `<root>/sha256/<hex>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sha256").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        algorithm, _, hex_ = check_sha256(digest, "blob").partition(":")
        return self.root / algorithm / hex_

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageError(f"blob {digest} missing from the content store") from None

    def write(self, data: bytes, expected: str | None = None) -> str:
        """Store data; return its digest (verified against expected when given)."""
        return self.ingest(io.BytesIO(data), expected)

    def ingest(self, stream: IO[bytes], expected: str | None = None) -> str:
        """Stream a blob to a temp file, verify its digest, fsync and rename it into place."""
        reader = DigestReader(stream)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=self.root / "sha256")
        try:
            with open(fd, "wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = reader.digest()
            if expected is not None and expected != digest:
                raise DigestMismatchError("blob", expected, digest)
            os.rename(tmp, self.path(digest))
            return digest
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, digest: str) -> int:
        """Remove a blob; return the bytes freed (0 if it was absent)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def digests(self) -> Iterator[str]:
        """Every stored blob digest (temp files excluded)."""
        for entry in os.scandir(self.root / "sha256"):
            if not entry.name.startswith(TEMP_PREFIX):
                yield f"sha256:{entry.name}"

    def clean_temp(self) -> None:
        """Remove temp files left by interrupted writes (only when no writer is running)."""
        for entry in os.scandir(self.root / "sha256"):
            if entry.name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


class _Prefixed:
    """A stream that serves some already-read bytes before the rest of the source."""

    def __init__(self, prefix: bytes, source: DigestReader) -> None:
        self._prefix = prefix
        self._source = source

    def read(self, n: int = -1) -> bytes:
        if not self._prefix:
            return self._source.read(n)
        if n < 0:
            data, self._prefix = self._prefix + self._source.read(), b""
            return data
        data, self._prefix = self._prefix[:n], self._prefix[n:]
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Not seekable: GzipFile wants the method, but calls it only to rewind."""
        raise io.UnsupportedOperation("seek")

    def close(self) -> None:
        """Nothing to release: the source belongs to the caller."""
