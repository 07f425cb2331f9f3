"""kubelet's image manager: the image a container needs, under its pull policy, with the
pull events and the per-image back-off; the caller sets the container's status from the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from podhost.api.types import Obj
from podhost.images import puller
from podhost.images.auth import load_auth
from podhost.images.errors import ImageError, ImageNeverPullError
from podhost.images.inuse import write_in_use
from podhost.images.store import ImageStore
from podhost.node.backoff import BackOff
from podhost.node.events import Recorder
from podhost.node.metrics import DETACHED, NodeMetrics

NEVER_PULL_RETRY = 10.0  # seconds; kubelet re-syncs a Pod with an error after its back-off
PULL_RETRY = 1.0  # the worker syncs again soon to report ImagePullBackOff


PULL_FALLBACK_REASON = "PullFailedUsingLocalImage"


def pull_fallback_message(ref: str, error: Exception) -> str:
    return (f'Failed to pull image "{ref}": {error}; started with the copy of the image '
            "already on the node (podhost serve --image-pull-fallback=false fails the pull "
            "instead, as kubelet does)")


@dataclass(frozen=True)
class ImageResult:
    """The image (ready to run), or why not yet: kubelet's waiting reason and message, and
    when to try again."""

    image: Any = None
    reason: str = ""
    message: str = ""
    retry_after: float = 0.0


class ImageManager:
    metrics: NodeMetrics = DETACHED

    def __init__(self, images: ImageStore, registries: Any, recorder: Recorder,
                 pull_fallback: bool = True) -> None:
        self.images, self.registries, self.recorder = images, registries, recorder
        self.pull_fallback = pull_fallback  # `podhost serve --image-pull-fallback`
        self.backoff = BackOff()
        self.pull_errors: dict[str, str] = {}
        self.in_use: set[str] | None = None  # as last written to in-use.json
        self.containers_in_use: set[str] = set()
        self.volume_images: dict[str, dict[str, Any]] = {}  # uid -> volume name -> Image
        self.volume_ids: dict[str, set[str]] = {}  # uid -> images its image volumes show
        self.volume_pulls: dict[tuple[str, str], asyncio.Future[ImageResult]] = {}

    async def ensure_image(self, pod: Obj, container: Obj, field_path: str | None
                           ) -> ImageResult:
        """EnsureImageExists: the image, or ErrImagePull / ImagePullBackOff /
        ErrImageNeverPull with kubelet's events."""
        ref = container["image"]
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        key = f"{pod['metadata']['uid']}/pull/{ref}"
        left = self.backoff.in_backoff(key, time.monotonic())
        if left > 0:
            self.recorder.normal(pod, "BackOff", f'Back-off pulling image "{ref}"', field_path)
            self.recorder.warning(pod, "Failed", "Error: ImagePullBackOff", field_path)
            return ImageResult(reason="ImagePullBackOff",
                               message=f'Back-off pulling image "{ref}": ErrImagePull: '
                                       f'{self.pull_errors.get(key, "")}', retry_after=left)
        if puller.needs_pull(self.images, ref, policy):
            self.recorder.normal(pod, "Pulling", f'Pulling image "{ref}"', field_path)
        try:
            with self.metrics.ops.pulling(ref) as progress:  # the dashboard's pull progress
                image, pulled, seconds = await puller.ensure_image(
                    self.images, ref, policy, self.registries, load_auth(), progress)
        except ImageError as e:
            return self._failed(pod, ref, key, e, field_path)
        self.backoff.forget(key)
        if pulled:
            self.metrics.image_pulled(pod["metadata"]["uid"], seconds,
                                      int(getattr(image, "size", 0) or 0))
        self.recorder.normal(pod, "Pulled", puller.pulled_message(ref, image, pulled, seconds),
                             field_path)
        return ImageResult(image=image)

    def _failed(self, pod: Obj, ref: str, key: str, e: ImageError, field_path: str | None
                ) -> ImageResult:
        never = isinstance(e, ImageNeverPullError)
        local = None if never or not self.pull_fallback else self._present(ref)
        if local is not None:
            # offline node: a registry that cannot be reached does not stop a Pod whose
            # image is already here (podhost's choice, docs/images.md; kubelet would fail
            # the pull: `podhost serve --image-pull-fallback=false`)
            self.recorder.warning(pod, PULL_FALLBACK_REASON, pull_fallback_message(ref, e),
                                  field_path)
            return ImageResult(image=local)
        reason = "ErrImageNeverPull" if never else "ErrImagePull"
        self.recorder.warning(pod, reason if never else "Failed",
                              f"{e}" if never else f'Failed to pull image "{ref}": {e}',
                              field_path)
        self.recorder.warning(pod, "Failed", f"Error: {reason}", field_path)
        if never:  # no pull was tried: kubelet retries on the next sync, without back-off
            return ImageResult(reason=reason, message=str(e), retry_after=NEVER_PULL_RETRY)
        self.pull_errors[key] = str(e)
        self.backoff.next(key, time.monotonic())
        return ImageResult(reason=reason, message=str(e), retry_after=PULL_RETRY)

    def _present(self, ref: str) -> Any:
        try:
            return self.images.get(ref)
        except ImageError:
            return None

    def layer_dirs(self, image: Any) -> Any:
        return self.images.layer_dirs(image)

    async def ensure_volume_images(self, pod: Obj, container: Obj
                                   ) -> tuple[dict[str, tuple[list[Any], str]], ImageResult]:
        """The images of the image volumes `container` mounts, pulled under each volume's
        pullPolicy with the events of a container image (on the Pod, no field path), once per
        Pod; or the failure (kubelet's toKubeContainerImageVolumes: the last one) to show on
        the container."""
        uid = pod["metadata"]["uid"]
        volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []
                   if isinstance(v, dict) and isinstance(v.get("image"), dict)}
        pulled = self.volume_images.setdefault(uid, {})
        out: dict[str, tuple[list[Any], str]] = {}
        failed = ImageResult()
        for vm in container.get("volumeMounts") or []:
            volume = volumes.get(vm.get("name"))
            if volume is None:
                continue
            name = volume["name"]
            if name not in pulled:
                result = await self._pull_volume(pod, name, volume["image"])
                if result.image is None:
                    failed = result
                    continue
                pulled[name] = result.image
                self.volume_ids.setdefault(uid, set()).add(_in_use_id(result.image))
                self.record_in_use(self.containers_in_use)
            out[name] = (self.images.layer_dirs(pulled[name]), _in_use_id(pulled[name]))
        return out, failed

    async def _pull_volume(self, pod: Obj, name: str, source: Obj) -> ImageResult:
        """One pull of a volume's image for the Pod at a time: containers starting together
        share its result (kubelet pulls image volumes once per sync)."""
        key = (pod["metadata"]["uid"], name)
        task = self.volume_pulls.get(key)
        if task is None:
            task = asyncio.ensure_future(self.ensure_image(pod, {
                "image": source.get("reference") or "",
                "imagePullPolicy": source.get("pullPolicy") or "IfNotPresent"}, None))
            self.volume_pulls[key] = task
            task.add_done_callback(lambda _: self.volume_pulls.pop(key, None))
        return await asyncio.shield(task)

    def use_volume_images(self, uid: str, image_ids: set[str]) -> None:
        """After a restart: the images the Pod's mounted image volumes show stay in use."""
        if image_ids:
            self.volume_ids[uid] = set(image_ids)
            self.record_in_use(self.containers_in_use)

    def release_volume_images(self, uid: str) -> None:
        """The Pod's image volumes are unmounted: their images are no longer in use."""
        self.volume_images.pop(uid, None)
        if self.volume_ids.pop(uid, None):
            self.record_in_use(self.containers_in_use)

    def forget(self, uid: str) -> None:
        self.backoff.forget(uid + "/")
        for key in [k for k in self.pull_errors if k.startswith(uid + "/")]:
            del self.pull_errors[key]
        self.release_volume_images(uid)

    def record_in_use(self, image_ids: set[str]) -> None:
        """Tell `podhost images rm|prune` which images the node's containers (running or
        exited, not yet removed) and mounted image volumes use: <images root>/in-use.json,
        rewritten when it changes."""
        self.containers_in_use = set(image_ids)
        ids = self.containers_in_use.union(*self.volume_ids.values())
        if ids != self.in_use:
            with contextlib.suppress(OSError):
                write_in_use(self.images.root, ids)
                self.in_use = ids


def _in_use_id(image: Any) -> str:
    return str(image.repo_digests[0] if image.repo_digests else image.id)
