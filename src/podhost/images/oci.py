"""OCI and Docker image metadata as values: descriptors, manifests, configs, chain IDs, names.

Pure: parses bytes that callers already read and computes digests over them. It must not open
files, read archives or touch the store; `archive` and `store` do the I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podhost.images.errors import ArchiveError, DigestMismatchError, InvalidReferenceError
from podhost.images.reference import Reference, parse_reference

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST})
MANIFEST_TYPES = frozenset({MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST})

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_DOCKER_REF_TYPE = "vnd.docker.reference.type"

_SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, its digest and its size."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise ArchiveError(f"malformed descriptor: {obj!r:.200}")
        check_sha256(obj["digest"], "descriptor")
        return cls(media_type=str(obj.get("mediaType", "")), digest=obj["digest"],
                   size=int(obj.get("size", -1)), annotations=dict(obj.get("annotations") or {}),
                   platform=obj.get("platform"))


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config descriptor and the layer descriptors, bottom first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = MEDIA_OCI_MANIFEST


def sha256_digest(data: bytes) -> str:
    """The "sha256:<hex>" digest of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_sha256(digest: str, what: str) -> str:
    """Return digest if it is "sha256:<64 lowercase hex>", else raise ArchiveError."""
    if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
        raise ArchiveError(f"{what}: unsupported or malformed digest {digest!r:.100}")
    return digest


def verify_digest(what: str, expected: str | None, data: bytes) -> str:
    """Digest data; raise DigestMismatchError if it differs from expected (when given)."""
    actual = sha256_digest(data)
    if expected is not None and expected != actual:
        raise DigestMismatchError(what, expected, actual)
    return actual


def chain_id(parent: str | None, diff_id: str) -> str:
    """OCI ChainID step: the bottom layer's diff_id, else sha256(parent + " " + diff_id)."""
    if parent is None:
        return diff_id
    return sha256_digest(f"{parent} {diff_id}".encode())


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainIDs of every layer prefix, bottom first."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out


def load_json(data: bytes, what: str) -> Any:
    """Parse JSON, turning errors into ArchiveError naming the document."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ArchiveError(f"{what}: invalid JSON: {e}") from None


def parse_config(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """Parse an image config; return it and its rootfs diff_ids (validated sha256 digests)."""
    config = load_json(data, "image config")
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise ArchiveError('image config: missing rootfs of type "layers"')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list):
        raise ArchiveError("image config: rootfs.diff_ids is not a list")
    return config, [check_sha256(d, "image config diff_id") for d in diff_ids]


def parse_index(data: bytes) -> list[Descriptor]:
    """The manifest descriptors of an image index (index.json or a manifest list)."""
    index = load_json(data, "image index")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ArchiveError("image index: no manifests list")
    return [Descriptor.from_json(m) for m in index["manifests"]]


def parse_manifest(data: bytes) -> Manifest:
    """Parse an OCI or Docker v2 image manifest."""
    obj = load_json(data, "image manifest")
    if not isinstance(obj, dict) or "config" not in obj or not isinstance(obj.get("layers"), list):
        raise ArchiveError("image manifest: needs config and layers")
    return Manifest(config=Descriptor.from_json(obj["config"]),
                    layers=tuple(Descriptor.from_json(x) for x in obj["layers"]),
                    media_type=str(obj.get("mediaType", MEDIA_OCI_MANIFEST)))


def document_kind(media_type: str, data: bytes) -> str:
    """ "index" or "manifest", from the descriptor's media type or else the document's shape."""
    if media_type in INDEX_TYPES:
        return "index"
    if media_type in MANIFEST_TYPES:
        return "manifest"
    obj = load_json(data, "index.json entry")
    kind = obj.get("mediaType", "") if isinstance(obj, dict) else ""
    if kind in INDEX_TYPES or (isinstance(obj, dict) and "manifests" in obj):
        return "index"
    return "manifest"


def platform_candidates(descriptors: Sequence[Descriptor], os_name: str, arch: str,
                        variant: str | None = None) -> list[Descriptor]:
    """Manifests of an index usable on this platform, best first; attestations dropped."""
    def score(d: Descriptor) -> int:
        p = d.platform or {}
        if not p:
            return 1
        if p.get("os") != os_name or p.get("architecture") != arch:
            return -1
        return 3 if variant is None or p.get("variant") in (None, variant) else 0
    usable = [d for d in descriptors
              if d.annotations.get(ANNOTATION_DOCKER_REF_TYPE) != "attestation-manifest"]
    ranked = sorted(((score(d), i, d) for i, d in enumerate(usable)), key=lambda t: (-t[0], t[1]))
    return [d for s, _, d in ranked if s >= 0]


def names_from_annotations(annotations: Mapping[str, str],
                           repository: str | None = None) -> list[Reference]:
    """Image names carried by an index.json entry.

    `io.containerd.image.name` is always a full name. `org.opencontainers.image.ref.name` may be
    a full name or "name:tag" (parsed as a reference) or a bare tag such as "latest", which only
    names the image when the caller says which repository it belongs to.
    """
    full = annotations.get(ANNOTATION_CONTAINERD_NAME)
    if full:
        return [_parse_name(full)]
    ref_name = annotations.get(ANNOTATION_REF_NAME)
    if not ref_name:
        return []
    if any(c in ref_name for c in "/:@"):
        return [_parse_name(ref_name)]
    if repository is None:
        return []
    return [_parse_name(repository).with_tag(ref_name)]


def _parse_name(text: str) -> Reference:
    try:
        return parse_reference(text)
    except InvalidReferenceError as e:
        raise ArchiveError(f"image name {text!r} in archive: {e}") from None


@dataclass(frozen=True)
class DockerEntry:
    """One image of a `docker save` manifest.json: config path, tags and layer paths."""

    config: str
    repo_tags: tuple[Reference, ...]
    layers: tuple[str, ...]


def parse_docker_manifest(data: bytes) -> list[DockerEntry]:
    """Parse the manifest.json written by `docker save` (all formats, including docker 25+)."""
    entries = load_json(data, "manifest.json")
    if not isinstance(entries, list):
        raise ArchiveError("manifest.json: expected a list of images")
    return [_docker_entry(e) for e in entries]


def _docker_entry(entry: Any) -> DockerEntry:
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
        raise ArchiveError(f"manifest.json: malformed entry {entry!r:.200}")
    layers = entry.get("Layers") or []
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise ArchiveError("manifest.json: Layers must be a list of paths")
    tags = tuple(_parse_name(t) for t in entry.get("RepoTags") or [])
    return DockerEntry(config=entry["Config"], repo_tags=tags, layers=tuple(layers))


def blob_path(digest: str) -> str:
    """Path of a blob inside an OCI image layout: "blobs/sha256/<hex>"."""
    algorithm, _, hex_ = check_sha256(digest, "blob").partition(":")
    return f"blobs/{algorithm}/{hex_}"


def digest_from_blob_path(path: str) -> str | None:
    """The digest a "blobs/sha256/<hex>" path names, or None for other paths."""
    parts = path.removeprefix("./").split("/")
    if len(parts) == 3 and parts[0] == "blobs" and _SHA256_RE.fullmatch(f"{parts[1]}:{parts[2]}"):
        return f"{parts[1]}:{parts[2]}"
    return None
