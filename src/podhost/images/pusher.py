"""Push an image of the store to a registry (OCI distribution API): `podhost images push`.

The layers are written anew from the store's unpacked copies (`export`), gzipped, and uploaded
unless the registry has them; then the config and an OCI image manifest under the tag. When
the rewritten layers hash to the config's diff IDs the config is pushed unchanged (same image
ID); otherwise its `rootfs.diff_ids` are replaced, so the pushed image has a new ID and digest.
The destination is the reference's own registry (no mirrors); `blocked`, `insecure`, the
loopback rule and --tls-verify apply as for pulls.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from podhost.images.auth import AuthConfig
from podhost.images.errors import ImageError, InvalidReferenceError
from podhost.images.export import LayerBlobFile, export_layer
from podhost.images.oci import MEDIA_OCI_MANIFEST, parse_config, sha256_digest
from podhost.images.reference import Reference, parse_reference
from podhost.images.registries import Endpoint, Registries, with_tls_verify
from podhost.images.registry import RegistryClient
from podhost.images.store import Image, ImageStore

MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20


class ImagePushError(ImageError):
    """A push failed; the message says which step and the registry's reason."""


@dataclass(frozen=True)
class PushResult:
    destination: str
    digest: str
    uploaded: int  # blobs sent (the others were already there)
    skipped: int


def destination(image: Image, source: str, dest: str | None) -> Reference:
    """The reference to push to: DEST, else the name the image was asked by."""
    text = dest or source
    if text.startswith("sha256:"):
        raise ImagePushError(f'"{text}" is an image ID: give a destination name')
    try:
        ref = parse_reference(text)
    except InvalidReferenceError as e:
        raise ImagePushError(str(e)) from None
    if ref.digest:
        raise ImagePushError(f'cannot push to a digest reference "{text}": give a tag')
    if dest is None and str(ref) not in image.repo_tags:
        raise ImagePushError(f'"{text}" names the image by ID: give a destination, e.g. '
                             f"podhost images push {text} localhost:5000/app:dev")
    return ref


def config_for(config: bytes, diff_ids: list[str]) -> bytes:
    """The config to push: unchanged when the layers hash as it says, else with new diff IDs."""
    _, declared = parse_config(config)
    if declared == diff_ids:
        return config
    doc = json.loads(config)
    doc.setdefault("rootfs", {"type": "layers"})["diff_ids"] = diff_ids
    return json.dumps(doc, separators=(",", ":")).encode()


def manifest_for(config: bytes, layers: list[LayerBlobFile]) -> bytes:
    """An OCI image manifest for the config and gzipped layers (bottom first)."""
    doc = {"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
           "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": sha256_digest(config),
                      "size": len(config)},
           "layers": [{"mediaType": MEDIA_OCI_LAYER_GZIP, "digest": b.digest, "size": b.size}
                      for b in layers]}
    return json.dumps(doc, separators=(",", ":")).encode()


def _file_body(path: Path) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        with open(path, "rb") as f:
            while data := await asyncio.to_thread(f.read, CHUNK):
                yield data
    return chunks


async def push_image(store: ImageStore, source: str, dest: str | None, registries: Registries,
                     auth: AuthConfig, *, tls_verify: bool | None = None,
                     say: Callable[[str], None] = lambda _: None) -> PushResult:
    """Push the stored image `source` to `dest` (default: its own name)."""
    image = store.get(source)
    ref = destination(image, source, dest)
    ep = with_tls_verify(registries.sources(ref)[-1:], tls_verify)[0]
    work = Path(tempfile.mkdtemp(prefix="push-", dir=store.root))
    try:
        layers = []
        for i, diff in enumerate(reversed(store.layer_dirs(image))):
            layers.append(await asyncio.to_thread(export_layer, diff, work / f"{i}.tar.gz"))
        config = config_for(store.content.read(image.id), [b.diff_id for b in layers])
        manifest = manifest_for(config, layers)
        async with RegistryClient(auth) as client:
            sent = await _upload(client, ep, config, layers, say)
            digest = await client.put_manifest(ep, ref.tag or "latest", manifest,
                                               MEDIA_OCI_MANIFEST)
    except (ImageError, httpx.HTTPError) as e:
        raise ImagePushError(f'pushing "{ref}": {e}') from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return PushResult(str(ref), digest, sent, len(layers) + 1 - sent)


async def _upload(client: RegistryClient, ep: Endpoint, config: bytes,
                  layers: list[LayerBlobFile], say: Callable[[str], None]) -> int:
    sent = 0
    for blob in layers:
        if await client.blob_exists(ep, blob.digest):
            say(f"{blob.digest[7:19]}: already in {ep.host}")
            continue
        await client.upload_blob(ep, blob.digest, _file_body(blob.path), blob.size)
        say(f"{blob.digest[7:19]}: pushed {blob.size} bytes")
        sent += 1
    digest = sha256_digest(config)
    if not await client.blob_exists(ep, digest):
        await client.upload_blob(ep, digest, lambda: config, len(config))
        sent += 1
    return sent
