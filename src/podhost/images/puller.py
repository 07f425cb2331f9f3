"""Pull images from registries into the ImageStore, and the kubelet's pull policies.

`pull_image` resolves a reference to its endpoints (registries.conf mirrors, then the origin),
fetches the manifest (following a manifest list / OCI index to this machine's platform, e.g.
linux/amd64), the config, and only the layers the store lacks, in parallel, into
`<store>/downloads/` (resumable), then hands them to `ImageStore.add_image` in a thread. The
image becomes visible only when add_image commits it: a failed pull leaves no image behind,
only partial blob files that the next attempt resumes (and `prune` removes).
`ensure_image` applies Always / IfNotPresent / Never as kubelet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import IO, Literal

import httpx

from podhost.images.archive import host_platform
from podhost.images.auth import AuthConfig
from podhost.images.content import LayerBlob
from podhost.images.errors import (
    ImageError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePullError,
    InvalidReferenceError,
)
from podhost.images.oci import (
    Descriptor,
    Manifest,
    document_kind,
    parse_config,
    parse_index,
    parse_manifest,
    platform_candidates,
)
from podhost.images.reference import Reference, parse_reference
from podhost.images.registries import Endpoint, Registries, with_tls_verify
from podhost.images.registry import RegistryClient
from podhost.images.store import Image, ImageStore

log = logging.getLogger(__name__)

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
PARALLEL_LAYERS = 4
DOWNLOADS = "downloads"


class PullProgress:
    """What a pull reports; the CLI draws bars from it. The default does nothing."""

    def resolved(self, ref: str, source: str, layers: list[Descriptor]) -> None:
        """The manifest was read from source; these layers will be downloaded."""

    def layer(self, digest: str, done: int, total: int) -> None:
        """Bytes of one layer downloaded so far."""

    def unpacking(self) -> None:
        """Every layer is downloaded; the store is unpacking them."""


def select_manifest(index: bytes, platform: tuple[str, str, str | None] | None = None,
                    ) -> Descriptor:
    """The manifest of a manifest list / OCI index for this machine (linux/amd64 here)."""
    wanted = platform or host_platform()
    candidates = platform_candidates(parse_index(index), *wanted)
    if not candidates:
        variant = wanted[2] or '""'
        raise ImagePullError(f"no image found in manifest list for architecture {wanted[1]}, "
                             f"variant {variant}, OS {wanted[0]}")
    return candidates[0]


def repo_names(ref: Reference, top_digest: str) -> tuple[list[str], list[str]]:
    """(repo_tags, repo_digests) a pulled image gets: the tag asked for, name@digest."""
    return ([str(ref.with_tag(ref.tag))] if ref.tag else []), [f"{ref.name}@{top_digest}"]


async def pull_image(store: ImageStore, ref: str, registries: Registries, auth: AuthConfig,
                     progress: PullProgress | None = None,
                     client: RegistryClient | None = None, *,
                     tls_verify: bool | None = None) -> Image:
    """Pull ref into store, trying each endpoint in turn; raise ImagePullError.

    `tls_verify` is podman's --tls-verify (None: registries.conf and the loopback rule)."""
    try:
        reference = parse_reference(ref)
    except InvalidReferenceError as e:
        raise ImagePullError(str(e)) from None
    progress = progress or PullProgress()
    owned = client is None
    client = client or RegistryClient(auth)
    try:
        sources = with_tls_verify(registries.sources(reference), tls_verify)
        return await _pull_any(store, reference, sources, client, progress)
    finally:
        if owned:
            await client.aclose()


async def _pull_any(store: ImageStore, ref: Reference, sources: list[Endpoint],
                    client: RegistryClient, progress: PullProgress) -> Image:
    failures = []
    for ep in sources:
        try:
            return await _pull_from(store, ref, ep, client, progress)
        except (ImageError, httpx.HTTPError, OSError) as e:
            if isinstance(e, ImagePullError) and "manifest list" in str(e):
                raise
            log.info("pulling %s from %s failed: %s", ref, ep, e)
            failures.append(f"{ep}{' (mirror)' if ep.mirror else ''}: {e}")
    last = failures[-1].split(": ", 1)[1]
    tried = f" (also tried {'; '.join(failures[:-1])})" if len(failures) > 1 else ""
    raise ImagePullError(f"{last}{tried}")


async def _pull_from(store: ImageStore, ref: Reference, ep: Endpoint, client: RegistryClient,
                     progress: PullProgress) -> Image:
    data, media_type, top_digest = await client.get_manifest(ep, ref.digest or ref.tag or "")
    if ref.digest and ref.digest != top_digest:
        raise ImagePullError(f"manifest digest {top_digest} does not match {ref.digest}")
    manifest_bytes = data
    if document_kind(media_type, data) == "index":
        desc = select_manifest(data)
        manifest_bytes, _, _ = await client.get_manifest(ep, desc.digest)
    manifest = parse_manifest(manifest_bytes)
    config = await client.get_blob(ep, manifest.config.digest)
    _, diff_ids = parse_config(config)
    if len(diff_ids) != len(manifest.layers):
        raise ImagePullError(f"manifest lists {len(manifest.layers)} layers, config "
                             f"{len(diff_ids)}")
    missing = store.missing_layers(config)
    progress.resolved(str(ref), str(ep), [manifest.layers[i] for i in missing])
    directory = store.root / DOWNLOADS
    directory.mkdir(exist_ok=True)
    paths = await _download(client, ep, manifest, missing, directory, progress)
    blobs = [LayerBlob.from_path(paths[i], d.digest) if i in paths else LayerBlob(_absent, d.digest)
             for i, d in enumerate(manifest.layers)]
    tags, digests = repo_names(ref, top_digest)
    progress.unpacking()
    image = await asyncio.to_thread(store.add_image, config, blobs, manifest=manifest_bytes,
                                    repo_tags=tags, repo_digests=digests)
    for path in paths.values():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return image


async def _download(client: RegistryClient, ep: Endpoint, manifest: Manifest, wanted: list[int],
                    directory: Path, progress: PullProgress) -> dict[int, Path]:
    """Download the wanted layers, at most PARALLEL_LAYERS at a time."""
    gate = asyncio.Semaphore(PARALLEL_LAYERS)

    async def one(i: int) -> Path:
        desc = manifest.layers[i]
        async with gate:
            return await client.download_blob(
                ep, desc.digest, desc.size, directory,
                lambda done, total: progress.layer(desc.digest, done, total))

    tasks = [asyncio.ensure_future(one(i)) for i in wanted]
    try:
        return dict(zip(wanted, await asyncio.gather(*tasks)))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _absent() -> IO[bytes]:
    raise ImageError("layer vanished from the store during the pull")


async def ensure_image(store: ImageStore, ref: str, policy: str, registries: Registries,
                       auth: AuthConfig, progress: PullProgress | None = None, *,
                       client: RegistryClient | None = None) -> tuple[Image, bool, float]:
    """The image for a container under kubelet's pull policy: (image, pulled?, seconds).

    IfNotPresent and Never use a stored image; Always (and IfNotPresent when absent) pull.
    Raises ImageNeverPullError (Never, absent) or ImagePullError(reason).
    """
    if policy != "Always":
        with contextlib.suppress(ImageNotFoundError, InvalidReferenceError):
            return store.get(ref), False, 0.0
        if policy == "Never":
            raise ImageNeverPullError(
                f'Container image "{ref}" is not present with pull policy of Never')
    start = time.monotonic()
    image = await pull_image(store, ref, registries, auth, progress, client)
    return image, True, time.monotonic() - start



def needs_pull(store: ImageStore, ref: str, policy: str) -> bool:
    """Whether ensure_image will contact a registry (kubelet records "Pulling image" then)."""
    if policy == "Always":
        return True
    if policy == "Never":
        return False
    try:
        store.get(ref)
    except (ImageNotFoundError, InvalidReferenceError):
        return True
    return False


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() at millisecond precision: "478ms", "1.2s", "1m2.5s"."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, ms = divmod(ms, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{secs}" if minutes else secs


def pulled_message(ref: str, image: Image, pulled: bool, seconds: float) -> str:
    """kubelet's "Pulled" event text."""
    if not pulled:
        return f'Container image "{ref}" already present on machine'
    took = go_duration(seconds)
    return (f'Successfully pulled image "{ref}" in {took} ({took} including waiting). '
            f"Image size: {image.size} bytes.")
