"""kubelet's image manager: the image a container needs, under its pull policy, with the
pull events and the per-image back-off; the caller sets the container's status from the result.
"""

from __future__ import annotations

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

NEVER_PULL_RETRY = 10.0  # seconds; kubelet re-syncs a Pod with an error after its back-off
PULL_RETRY = 1.0  # the worker syncs again soon to report ImagePullBackOff


@dataclass(frozen=True)
class ImageResult:
    """The image (ready to run), or why not yet: kubelet's waiting reason and message, and
    when to try again."""

    image: Any = None
    reason: str = ""
    message: str = ""
    retry_after: float = 0.0


class ImageManager:
    def __init__(self, images: ImageStore, registries: Any, recorder: Recorder) -> None:
        self.images, self.registries, self.recorder = images, registries, recorder
        self.backoff = BackOff()
        self.pull_errors: dict[str, str] = {}
        self.in_use: set[str] | None = None  # as last written to in-use.json

    async def ensure_image(self, pod: Obj, container: Obj, field_path: str) -> ImageResult:
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
            image, pulled, seconds = await puller.ensure_image(
                self.images, ref, policy, self.registries, load_auth())
        except ImageError as e:
            return self._failed(pod, ref, key, e, field_path)
        self.backoff.forget(key)
        self.recorder.normal(pod, "Pulled", puller.pulled_message(ref, image, pulled, seconds),
                             field_path)
        return ImageResult(image=image)

    def _failed(self, pod: Obj, ref: str, key: str, e: ImageError, field_path: str
                ) -> ImageResult:
        never = isinstance(e, ImageNeverPullError)
        local = None if never else self._present(ref)
        if local is not None:
            # offline node: a registry that cannot be reached does not stop a Pod whose
            # image is already here (podhost's choice; kubelet would fail the pull)
            self.recorder.warning(pod, "Failed", f'Failed to pull image "{ref}": {e}; '
                                  "using the image present on the node", field_path)
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

    def forget(self, uid: str) -> None:
        self.backoff.forget(uid + "/")
        for key in [k for k in self.pull_errors if k.startswith(uid + "/")]:
            del self.pull_errors[key]

    def record_in_use(self, image_ids: set[str]) -> None:
        """Tell `podhost images rm|prune` which images the node's containers (running or
        exited, not yet removed) use: <images root>/in-use.json, rewritten when it changes."""
        if image_ids != self.in_use:
            with contextlib.suppress(OSError):
                write_in_use(self.images.root, image_ids)
                self.in_use = set(image_ids)
