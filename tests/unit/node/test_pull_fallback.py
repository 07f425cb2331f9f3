"""imagePullPolicy Always on a node that cannot reach the registry: the copy already on the
node runs, with a Warning PullFailedUsingLocalImage saying so; switched off
(`--image-pull-fallback=false`) the container gets ErrImagePull, as with kubelet."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from podhost.images.errors import ImagePullError
from podhost.node import image_manager
from podhost.node.image_manager import ImageManager
from tests.unit.node.test_image_volumes import Events, FakeImage, FakeStore

POD = {"metadata": {"uid": "u1", "name": "p"}, "spec": {"containers": [
    {"name": "c", "image": "reg:5000/app:1", "imagePullPolicy": "Always"}]}}


def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool) -> ImageManager:
    store = FakeStore(tmp_path, {"reg:5000/app:1": FakeImage("sha256:" + "a" * 64)})

    async def unreachable(*_: Any) -> tuple[Any, bool, float]:
        raise ImagePullError("dial tcp reg:5000: connection refused")

    monkeypatch.setattr(image_manager.puller, "ensure_image", unreachable)
    monkeypatch.setattr(image_manager.puller, "needs_pull", lambda *_: True)
    monkeypatch.setattr(image_manager, "load_auth", lambda: None)
    return ImageManager(store, None, Events(), fallback)  # type: ignore[arg-type]


def test_failed_pull_runs_the_local_copy_with_a_warning(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    images = manager(tmp_path, monkeypatch, True)
    container = POD["spec"]["containers"][0]  # type: ignore[index]
    result = asyncio.run(images.ensure_image(POD, container, "spec.containers{c}"))
    assert result.image is not None and result.reason == ""
    assert images.recorder.seen[-1] == (  # type: ignore[attr-defined]
        "PullFailedUsingLocalImage",
        'Failed to pull image "reg:5000/app:1": dial tcp reg:5000: connection refused; '
        "started with the copy of the image already on the node (podhost serve "
        "--image-pull-fallback=false fails the pull instead, as kubelet does)",
        "spec.containers{c}")


def test_fallback_off_is_errimagepull(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = manager(tmp_path, monkeypatch, False)
    container = POD["spec"]["containers"][0]  # type: ignore[index]
    result = asyncio.run(images.ensure_image(POD, container, "spec.containers{c}"))
    assert result.image is None and result.reason == "ErrImagePull"
    reasons = [r for r, _, _ in images.recorder.seen]  # type: ignore[attr-defined]
    assert "PullFailedUsingLocalImage" not in reasons and reasons[-2:] == ["Failed", "Failed"]


def test_flag_reads_as_kubectl_bools() -> None:
    from podhost.cli.main import build_parser
    parser = build_parser()
    assert parser.parse_args(["serve"]).image_pull_fallback is True
    assert parser.parse_args(["serve", "--image-pull-fallback=false"]).image_pull_fallback \
        is False
    assert parser.parse_args(["up", "--image-pull-fallback"]).image_pull_fallback is True
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--image-pull-fallback=nah"])
