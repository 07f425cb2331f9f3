"""The image store: images by name and ID, their configs, and their layers unpacked once.

On-disk layout under `root` (podhost passes `<podhost root>/images`)::

    images.json                  image ID -> {repo_tags, repo_digests, manifest, config, ...}
    lock, gc.lock                flock files (metadata writes; loads vs. garbage collection)
    blobs/sha256/<hex>           configs and manifests (layer blobs are dropped once unpacked)
    layers/<chain id hex>/diff/  one layer in overlayfs form, shared by every image using it
    layers/<chain id hex>/layer.json   written before the directory is renamed into place
    layers/<hex>.tmp-<random>/   a layer being unpacked (or deleted); never used

Loads hold `gc.lock` shared while they unpack and take `lock` for the short metadata update;
remove/prune take `gc.lock` exclusively, so they never delete a layer a load is about to use.
This module must not mount anything (see `snapshots`) nor parse tar members (see `unpack`).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podhost.images.archive import open_archive
from podhost.images.content import TEMP_PREFIX, ContentStore, LayerBlob, read_layer
from podhost.images.errors import (
    ArchiveError,
    ImageError,
    ImageInUseError,
    ImageNotFoundError,
    InvalidReferenceError,
)
from podhost.images.oci import chain_ids, parse_config, sha256_digest
from podhost.images.records import (
    Record,
    created_of,
    digest_names,
    drop_ref,
    merge_record,
    move_tags,
    normalise_ids,
    owned,
    resolve,
    tag_names,
    untag_leaves_refs,
)
from podhost.images.reference import parse_reference
from podhost.images.unpack import apply_layer

DB_VERSION = 1


@dataclass(frozen=True)
class Image:
    """An image in the store. `config` is the parsed OCI image config (config["config"]["Cmd"])."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    config: dict[str, Any] = field(compare=False, repr=False)
    chain_ids: tuple[str, ...]
    size: int
    manifest_digest: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class Removal:
    """What `remove` did: references dropped, the image ID deleted (if any), bytes freed."""

    untagged: tuple[str, ...]
    deleted: str | None
    freed: int = 0


class ImageStore:
    """Images, their blobs and their unpacked layers under one directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)  # layers hold setuid binaries: keep host users out
        self.content = ContentStore(self.root / "blobs")
        self.layers_root = self.root / "layers"
        self.layers_root.mkdir(parents=True, exist_ok=True)
        self._db_path = self.root / "images.json"
        self._configs: dict[str, bytes] = {}
        self._clean_if_idle()

    # -- adding images -------------------------------------------------------------------

    def load_archive(self, path: str | os.PathLike[str], *,
                     repository: str | None = None) -> list[Image]:
        """Load every image of an OCI or docker archive; `repository` names bare-tag images."""
        loaded = []
        with open_archive(os.fspath(path), repository) as found:
            for item in found:
                tags = [str(n) for n in item.names if n.digest is None]
                digests = [f"{n.name}@{n.digest}" for n in item.names if n.digest]
                if item.manifest is not None:
                    manifest_digest = sha256_digest(item.manifest)
                    digests += [f"{n.name}@{manifest_digest}" for n in item.names if not n.digest]
                loaded.append(self.add_image(item.config, item.layers, manifest=item.manifest,
                                             repo_tags=tags, repo_digests=digests))
        return loaded

    def add_image(self, config: bytes, layers: Sequence[LayerBlob | str | os.PathLike[str]], *,
                  manifest: bytes | None = None, repo_tags: Iterable[str] = (),
                  repo_digests: Iterable[str] = ()) -> Image:
        """Add an image from its raw config bytes (their digest is the image ID) and layer blobs.

        Layers are given bottom first, as blobs (gzip or plain tar) matching the config's
        diff_ids; a layer already in the store is not read at all (see `missing_layers`).
        """
        _, diff_ids = parse_config(config)
        blobs = [b if isinstance(b, LayerBlob) else LayerBlob.from_path(b) for b in layers]
        if len(blobs) != len(diff_ids):
            raise ArchiveError(f"image config lists {len(diff_ids)} layers, got {len(blobs)}")
        tags, digests = tag_names(repo_tags), digest_names(repo_digests)
        chains = chain_ids(diff_ids)
        with self._lock("gc.lock", fcntl.LOCK_SH):
            image_id = self.content.write(config)
            manifest_digest = self.content.write(manifest) if manifest is not None else None
            size = sum(self._ensure_layer(chains, diff_ids, i, blobs[i]) for i in range(len(blobs)))
            with self._db() as images:
                record = merge_record(images.get(image_id), image_id, manifest_digest, chains,
                                      size, digests, created_of(config))
                images[image_id] = record
                move_tags(images, image_id, tags)
        return self._image(image_id, record)

    def missing_layers(self, config: bytes) -> list[int]:
        """Indexes (bottom first) of the config's layers not yet unpacked in the store."""
        _, diff_ids = parse_config(config)
        return [i for i, c in enumerate(chain_ids(diff_ids)) if self._layer_meta(c) is None]

    # -- queries ---------------------------------------------------------------------------

    def get(self, ref_or_id: str) -> Image:
        """Find an image by name ("nginx"), digest reference, ID or ID prefix (>= 12 hex)."""
        images = self._read_db()
        image_id, _ = resolve(images, ref_or_id)
        return self._image(image_id, images[image_id])

    def list(self) -> list[Image]:
        """Every image in the store."""
        return [self._image(i, r) for i, r in self._read_db().items()]

    def layer_dirs(self, image: Image) -> builtins.list[Path]:
        """The image's layer `diff` directories, top-most first (overlay lowerdir order)."""
        dirs = [self._layer_path(c) / "diff" for c in reversed(image.chain_ids)]
        for d in dirs:
            if not d.is_dir():
                raise ImageError(f"image {image.id}: layer {d.parent.name} missing from the store")
        return dirs

    # -- changing names and removing -------------------------------------------------------

    def tag(self, image: Image | str, ref: str) -> Image:
        """Point the tag `ref` at image (moving it off any other image)."""
        reference = parse_reference(ref)
        if reference.digest:
            raise InvalidReferenceError(f'cannot tag with a digest reference: "{ref}"')
        with self._db() as images:
            image_id = image.id if isinstance(image, Image) else resolve(images, image)[0]
            if image_id not in images:
                raise ImageNotFoundError(f'image "{image_id}" not found')
            move_tags(images, image_id, [str(reference)])
            record = images[image_id]
        return self._image(image_id, record)

    def remove(self, ref_or_id: str, in_use: AbstractSet[str] = frozenset()) -> Removal:
        """Untag ref_or_id; delete the image (and its unshared layers) once no tag is left.

        Raises ImageInUseError instead of deleting an image whose ID is in `in_use`.
        """
        busy = normalise_ids(in_use)
        with self._lock("gc.lock", fcntl.LOCK_EX):
            with self._db() as images:
                image_id, via = resolve(images, ref_or_id)
                record = images[image_id]
                if via is not None and untag_leaves_refs(record, via):
                    drop_ref(record, via)
                    return Removal(untagged=(via,), deleted=None)
                if image_id in busy:
                    raise ImageInUseError(f'image "{ref_or_id}" ({image_id}) is in use by a '
                                          "container; delete the Pods using it first")
                del images[image_id]
            freed = self._sweep(images, only=owned(record))
        return Removal(tuple(record["repo_tags"] + record["repo_digests"]), image_id, freed)

    def prune(self, in_use: AbstractSet[str] = frozenset(), *, dangling_only: bool = False) -> int:
        """Delete every image not in `in_use` (only untagged ones if dangling_only), then
        unreferenced layers, blobs and leftovers of interrupted loads. Returns bytes freed.
        """
        busy = normalise_ids(in_use)
        with self._lock("gc.lock", fcntl.LOCK_EX):
            with self._db() as images:
                for image_id, record in list(images.items()):
                    if image_id not in busy and not (dangling_only and record["repo_tags"]):
                        del images[image_id]
            return self._sweep(images, only=None) + self._prune_downloads()

    def _prune_downloads(self, idle: float = 600.0) -> int:
        """Delete partial pull downloads untouched for `idle` seconds (a pull may be running)."""
        freed, now = 0, time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root / "downloads"):
                st = entry.stat()
                if now - st.st_mtime > idle:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        freed += st.st_size
        return freed

    # -- layers ----------------------------------------------------------------------------

    def _layer_path(self, chain: str) -> Path:
        return self.layers_root / chain.removeprefix("sha256:")

    def _layer_meta(self, chain: str) -> dict[str, Any] | None:
        path = self._layer_path(chain) / "layer.json"
        try:
            meta: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        return meta

    def _ensure_layer(self, chains: builtins.list[str], diff_ids: builtins.list[str], i: int,
                      blob: LayerBlob) -> int:
        """Unpack layer i into layers/<chain>/ unless present; return its size."""
        meta = self._layer_meta(chains[i])
        if meta is not None:
            return int(meta["size"])
        final = self._layer_path(chains[i])
        tmp = final.with_name(f"{final.name}{TEMP_PREFIX}{secrets.token_hex(6)}")
        (tmp / "diff").mkdir(parents=True)
        try:
            size = read_layer(blob, diff_ids[i], lambda tar: apply_layer(tar, tmp / "diff"),
                              what=f"layer {i} ({diff_ids[i]})")
            meta = {"chain_id": chains[i], "diff_id": diff_ids[i], "size": size,
                    "parent": chains[i - 1] if i else None, "blob_digest": blob.digest}
            (tmp / "layer.json").write_text(json.dumps(meta, indent=1))
            _install(tmp, final)
        finally:
            _rmtree(tmp)
        return size

    def _sweep(self, images: Mapping[str, Record], only: AbstractSet[str] | None) -> int:
        """Delete layers and blobs no image references (limited to `only` when given)."""
        layers = {c for r in images.values() for c in r["chain_ids"]}
        blobs = {d for i, r in images.items() for d in (i, r.get("manifest_digest")) if d}
        freed = 0
        for entry in os.scandir(self.layers_root):
            chain = f"sha256:{entry.name}"
            if TEMP_PREFIX in entry.name and only is None:
                _rmtree(Path(entry.path))
            elif TEMP_PREFIX not in entry.name and chain not in layers and (
                    only is None or chain in only):
                freed += self._delete_layer(chain)
        for digest in list(self.content.digests()):
            if digest not in blobs and (only is None or digest in only):
                freed += self.content.delete(digest)
                self._configs.pop(digest, None)
        if only is None:
            self.content.clean_temp()
        return freed

    def _delete_layer(self, chain: str) -> int:
        meta = self._layer_meta(chain) or {}
        final = self._layer_path(chain)
        doomed = final.with_name(f"{final.name}{TEMP_PREFIX}del-{secrets.token_hex(6)}")
        os.rename(final, doomed)  # atomic: the layer disappears before its files do
        _rmtree(doomed)
        return int(meta.get("size", 0))

    def _clean_if_idle(self) -> None:
        """Remove leftovers of interrupted loads and writes, if no other load is running."""
        with self._lock("gc.lock", fcntl.LOCK_EX | fcntl.LOCK_NB, wait=False) as idle:
            if not idle:
                return
            for entry in os.scandir(self.layers_root):
                if TEMP_PREFIX in entry.name:
                    _rmtree(Path(entry.path))
            self.content.clean_temp()
            with self._lock("lock", fcntl.LOCK_EX):
                for stale in self.root.glob(f"{self._db_path.name}{TEMP_PREFIX}*"):
                    stale.unlink(missing_ok=True)

    # -- metadata --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, name: str, operation: int, wait: bool = True) -> Iterator[bool]:
        fd = os.open(self.root / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, operation)
            except BlockingIOError:
                if wait:
                    raise
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _read_db(self) -> dict[str, Record]:
        """A consistent snapshot of images.json (it is only ever replaced by rename)."""
        try:
            data = json.loads(self._db_path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise ImageError(f"{self._db_path}: corrupt image database: {e}") from None
        if data.get("version") != DB_VERSION:
            raise ImageError(f"{self._db_path}: unsupported version {data.get('version')!r}")
        images: dict[str, Record] = data["images"]
        return images

    @contextlib.contextmanager
    def _db(self) -> Iterator[dict[str, Record]]:
        """Read-modify-write images.json under the metadata lock; nothing is written on error."""
        with self._lock("lock", fcntl.LOCK_EX):
            images = self._read_db()
            yield images
            _write_json(self._db_path, {"version": DB_VERSION, "images": images})

    def _image(self, image_id: str, record: Record) -> Image:
        raw = self._configs.get(image_id)
        if raw is None:
            raw = self._configs[image_id] = self.content.read(image_id)
        return Image(id=image_id, repo_tags=tuple(record["repo_tags"]),
                     repo_digests=tuple(record["repo_digests"]), config=json.loads(raw),
                     chain_ids=tuple(record["chain_ids"]), size=record["size"],
                     manifest_digest=record.get("manifest_digest"), created=record.get("created"))


# -- file helpers -----------------------------------------------------------------------------

def _write_json(path: Path, value: Any) -> None:
    """Write JSON atomically: temp file in the same dir, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}{TEMP_PREFIX}", dir=path.parent)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _install(tmp: Path, final: Path) -> None:
    """Rename a finished layer into place; if another process won the race, keep theirs."""
    try:
        os.rename(tmp, final)
    except OSError as e:
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise


def _rmtree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
