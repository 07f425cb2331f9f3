"""Read image archives: OCI image layouts in a tar, and `docker save` tars (all formats).

`open_archive(path)` yields one `ArchiveImage` per image found: its config bytes, its manifest
(OCI only), the names it carries, and lazily opened layer blobs read straight from the archive.
The images are valid only inside the `with` block. This module must not write anything: the
store decides what to keep.
"""

from __future__ import annotations

import contextlib
import platform
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from podhost.images.content import LayerBlob
from podhost.images.errors import ArchiveError
from podhost.images.oci import (
    Descriptor,
    blob_path,
    digest_from_blob_path,
    document_kind,
    names_from_annotations,
    parse_docker_manifest,
    parse_index,
    parse_manifest,
    platform_candidates,
    verify_digest,
)
from podhost.images.reference import Reference

JSON_LIMIT = 32 << 20  # configs, manifests and indexes are small; refuse absurd ones
_MACHINE_TO_ARCH = {"x86_64": ("amd64", None), "amd64": ("amd64", None),
                    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
                    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i686": ("386", None),
                    "ppc64le": ("ppc64le", None), "s390x": ("s390x", None),
                    "riscv64": ("riscv64", None)}


@dataclass
class ArchiveImage:
    """One image of an archive: config bytes, optional manifest, names and layer blobs."""

    config: bytes
    layers: list[LayerBlob]
    manifest: bytes | None = None
    names: list[Reference] = field(default_factory=list)


def host_platform() -> tuple[str, str, str | None]:
    """(os, architecture, variant) of this machine in OCI terms."""
    machine = platform.machine()
    arch, variant = _MACHINE_TO_ARCH.get(machine, (machine, None))
    return "linux", arch, variant


@contextlib.contextmanager
def open_archive(path: str, repository: str | None = None) -> Iterator[list[ArchiveImage]]:
    """Open an OCI or docker archive; `repository` names images tagged with a bare tag."""
    with _open_tar(path) as tar:
        reader = _Reader(tar, path)
        if reader.has("manifest.json"):
            yield reader.docker_images()
        elif reader.has("index.json"):
            yield reader.oci_images(repository)
        else:
            raise ArchiveError(f"{path}: neither a docker archive (manifest.json) "
                               "nor an OCI layout (index.json)")


@contextlib.contextmanager
def _open_tar(path: str) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"{path}: not a readable tar archive: {e}") from None
    with tar:
        yield tar


class _Reader:
    """Random access to the members of an archive by normalised name."""

    def __init__(self, tar: tarfile.TarFile, path: str) -> None:
        self.tar = tar
        self.path = path
        try:
            self.members = {_normalise(m.name): m for m in tar.getmembers()}
        except tarfile.TarError as e:
            raise ArchiveError(f"{path}: corrupt tar: {e}") from None

    def has(self, name: str) -> bool:
        return _normalise(name) in self.members

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(_normalise(name))
        stream = self.tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ArchiveError(f"{self.path}: missing file {name!r}")
        return stream

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            data = f.read(JSON_LIMIT + 1)
        if len(data) > JSON_LIMIT:
            raise ArchiveError(f"{self.path}: {name!r} is too large for a JSON document")
        return data

    def blob(self, digest: str, what: str) -> bytes:
        return _verified(what, digest, self.read(blob_path(digest)))

    def layer(self, name: str, digest: str | None) -> LayerBlob:
        if not self.has(name):
            raise ArchiveError(f"{self.path}: missing layer {name!r}")
        return LayerBlob(lambda: self.open(name), digest)

    # -- docker save -----------------------------------------------------------------------

    def docker_images(self) -> list[ArchiveImage]:
        images = []
        for entry in parse_docker_manifest(self.read("manifest.json")):
            config = self.read(entry.config)
            expected = digest_from_blob_path(entry.config)
            if expected is not None:
                _verified("image config", expected, config)
            layers = [self.layer(p, digest_from_blob_path(p)) for p in entry.layers]
            images.append(ArchiveImage(config, layers, None, list(entry.repo_tags)))
        return images

    # -- OCI image layout ------------------------------------------------------------------

    def oci_images(self, repository: str | None) -> list[ArchiveImage]:
        by_manifest: dict[str, ArchiveImage] = {}
        for desc in parse_index(self.read("index.json")):
            digest, manifest = self._resolve_manifest(desc)
            image = by_manifest.get(digest) or self._oci_image(manifest)
            by_manifest[digest] = image
            for name in names_from_annotations(desc.annotations, repository):
                if name not in image.names:
                    image.names.append(name)
        return list(by_manifest.values())

    def _resolve_manifest(self, desc: Descriptor, depth: int = 0) -> tuple[str, bytes]:
        """Follow nested indexes down to the manifest for this platform."""
        data = self.blob(desc.digest, "manifest or index")
        if document_kind(desc.media_type, data) == "manifest":
            return desc.digest, data
        if depth >= 4:
            raise ArchiveError(f"{self.path}: image indexes nested too deeply")
        for candidate in platform_candidates(parse_index(data), *host_platform()):
            if self.has(blob_path(candidate.digest)):
                return self._resolve_manifest(candidate, depth + 1)
        wanted = "/".join(filter(None, host_platform()))
        raise ArchiveError(f"{self.path}: no manifest for platform {wanted} in the archive")

    def _oci_image(self, manifest_bytes: bytes) -> ArchiveImage:
        manifest = parse_manifest(manifest_bytes)
        config = self.blob(manifest.config.digest, "image config")
        layers = [self.layer(blob_path(d.digest), d.digest) for d in manifest.layers]
        return ArchiveImage(config, layers, manifest_bytes, [])


def _normalise(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _verified(what: str, digest: str, data: bytes) -> bytes:
    verify_digest(what, digest, data)
    return data
