"""The image records kept in images.json, and the pure rules that read and change them.

A record is a plain dict: repo_tags, repo_digests, config_digest, manifest_digest, chain_ids,
size, created. Functions here resolve names and IDs to records, move tags and work out what an
image owns. Pure: it must not touch files or take locks; `store` does both around it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from podhost.images.errors import ImageNotFoundError, InvalidReferenceError
from podhost.images.reference import parse_reference

MIN_ID_PREFIX = 12
_HEX_RE = re.compile(r"[a-f0-9]+", re.ASCII)

Record = dict[str, Any]


def resolve(images: Mapping[str, Record], text: str) -> tuple[str, str | None]:
    """The image ID text names, and the reference it matched (None when matched by ID)."""
    hex_ = text.removeprefix("sha256:")
    id_only = text.startswith("sha256:") or (len(text) == 64 and _HEX_RE.fullmatch(text))
    if not id_only:
        found = _find_reference(images, text)
        if found is not None:
            return found
    if len(hex_) >= MIN_ID_PREFIX and _HEX_RE.fullmatch(hex_):
        matches = [i for i in images if i.startswith(f"sha256:{hex_}")]
        if len(matches) > 1:
            raise ImageNotFoundError(f'image ID prefix "{text}" is ambiguous')
        if matches:
            return matches[0], None
    raise ImageNotFoundError(f'image "{text}" not found')


def _find_reference(images: Mapping[str, Record], text: str) -> tuple[str, str] | None:
    ref = parse_reference(text)
    key, kind = (f"{ref.name}@{ref.digest}", "repo_digests") if ref.digest else (str(ref),
                                                                                 "repo_tags")
    for image_id, record in images.items():
        if key in record[kind]:
            return image_id, key
    return None


def merge_record(old: Record | None, image_id: str, manifest_digest: str | None,
                 chains: list[str], size: int, digests: list[str], created: str | None) -> Record:
    """The record for image_id: a new one, or the old one updated (its names are kept)."""
    record = old or {"repo_tags": [], "repo_digests": [], "config_digest": image_id}
    record.update(manifest_digest=manifest_digest or record.get("manifest_digest"),
                  chain_ids=chains, size=size, created=created)
    record["repo_digests"] += [d for d in digests if d not in record["repo_digests"]]
    return record


def move_tags(images: dict[str, Record], image_id: str, tags: Iterable[str]) -> None:
    """Give the tags to image_id, taking them off any other image (a tag names one image)."""
    for tag in tags:
        for other_id, record in images.items():
            if other_id != image_id and tag in record["repo_tags"]:
                record["repo_tags"].remove(tag)
        if tag not in images[image_id]["repo_tags"]:
            images[image_id]["repo_tags"].append(tag)


def untag_leaves_refs(record: Record, via: str) -> bool:
    """Whether dropping reference `via` leaves the image named (so it is kept)."""
    tags = [t for t in record["repo_tags"] if t != via]
    if "@" not in via:
        return bool(tags)
    return bool(tags) or any(d != via for d in record["repo_digests"])


def drop_ref(record: Record, via: str) -> None:
    """Remove one tag or repo digest from a record."""
    for kind in ("repo_tags", "repo_digests"):
        if via in record[kind]:
            record[kind].remove(via)


def owned(record: Record) -> set[str]:
    """Layers and blobs an image record refers to (candidates for deletion with it)."""
    return {*record["chain_ids"], record["config_digest"], record.get("manifest_digest") or ""}


def tag_names(tags: Iterable[str]) -> list[str]:
    """Normalised "registry/repo:tag" strings; raises InvalidReferenceError."""
    refs = [parse_reference(t) for t in tags]
    if any(r.digest for r in refs):
        raise InvalidReferenceError("repo tags must not carry a digest")
    return [str(r) for r in refs]


def digest_names(digests: Iterable[str]) -> list[str]:
    """Normalised "registry/repo@digest" strings; raises InvalidReferenceError."""
    refs = [parse_reference(d) for d in digests]
    if any(r.digest is None for r in refs):
        raise InvalidReferenceError("repo digests must be name@digest references")
    return [f"{r.name}@{r.digest}" for r in refs]


def normalise_ids(ids: Iterable[str]) -> set[str]:
    """Image IDs with the "sha256:" prefix, whether or not they had it."""
    return {i if i.startswith("sha256:") else f"sha256:{i}" for i in ids}


def created_of(config: bytes) -> str | None:
    """The config's "created" timestamp, if it has one."""
    created = json.loads(config).get("created")
    return created if isinstance(created, str) else None
