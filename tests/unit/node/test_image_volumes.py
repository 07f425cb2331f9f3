"""The node's side of image volumes (issue 19): pulled once per Pod through the image manager
under the volume's pull policy, failures reported as kubelet's reasons on the containers that
mount the volume, the images kept in in-use.json while mounted."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podhost.images.errors import ImagePullError
from podhost.node import image_manager
from podhost.node.image_manager import ImageManager


@dataclass
class FakeImage:
    id: str
    repo_digests: tuple[str, ...] = ()
    size: int = 1


@dataclass
class FakeStore:
    root: Path
    images: dict[str, FakeImage] = field(default_factory=dict)

    def get(self, ref: str) -> FakeImage:
        from podhost.images.errors import ImageNotFoundError
        if ref not in self.images:
            raise ImageNotFoundError(ref)
        return self.images[ref]

    def layer_dirs(self, image: FakeImage) -> list[Path]:
        return [self.root / image.id]


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    def normal(self, pod: Any, reason: str, message: str, field_path: str | None = None) -> None:
        self.seen.append((reason, message, field_path))

    warning = normal


POD = {"metadata": {"uid": "u1", "name": "p"}, "spec": {
    "volumes": [{"name": "site", "image": {"reference": "reg:5000/site:1",
                                            "pullPolicy": "IfNotPresent"}},
                {"name": "tmp", "emptyDir": {}}],
    "containers": [{"name": "a", "volumeMounts": [{"name": "site", "mountPath": "/s"},
                                                  {"name": "tmp", "mountPath": "/t"}]},
                   {"name": "b", "volumeMounts": [{"name": "tmp", "mountPath": "/t"}]}]}}


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ImageManager, list[str]]:
    store = FakeStore(tmp_path)
    pulls: list[str] = []

    async def ensure(store_: Any, ref: str, policy: str, *_: Any) -> tuple[Any, bool, float]:
        pulls.append(f"{ref} {policy}")
        if "missing" in ref:
            raise ImagePullError("manifest unknown: manifest unknown")
        store.images[ref] = FakeImage("sha256:" + "a" * 64, (f"{ref}@sha256:" + "b" * 64,))
        return store.images[ref], True, 0.5

    monkeypatch.setattr(image_manager.puller, "ensure_image", ensure)
    monkeypatch.setattr(image_manager, "load_auth", lambda: None)
    return ImageManager(store, None, Events()), pulls  # type: ignore[arg-type]


def test_pulled_once_per_pod_and_kept_in_use(manager: tuple[ImageManager, list[str]],
                                             tmp_path: Path) -> None:
    images, pulls = manager
    containers = POD["spec"]["containers"]  # type: ignore[index]
    got, failed = asyncio.run(images.ensure_volume_images(POD, containers[0]))
    assert failed.reason == "" and list(got) == ["site"]
    layers, image_id = got["site"]
    assert layers == [tmp_path / ("sha256:" + "a" * 64)]
    assert image_id == "reg:5000/site:1@sha256:" + "b" * 64
    again, _ = asyncio.run(images.ensure_volume_images(POD, containers[0]))
    assert again == got and pulls == ["reg:5000/site:1 IfNotPresent"]
    none, _ = asyncio.run(images.ensure_volume_images(POD, containers[1]))
    assert none == {}
    events = images.recorder.seen  # type: ignore[attr-defined]
    assert ("Pulling", 'Pulling image "reg:5000/site:1"', None) in events
    in_use = json.loads((tmp_path / "in-use.json").read_text())["images"]
    assert in_use == [image_id]
    images.record_in_use({"sha256:" + "c" * 64})
    assert len(json.loads((tmp_path / "in-use.json").read_text())["images"]) == 2
    images.release_volume_images("u1")
    assert json.loads((tmp_path / "in-use.json").read_text())["images"] == [
        "sha256:" + "c" * 64]


def test_failure_is_the_containers_reason(manager: tuple[ImageManager, list[str]]) -> None:
    images, _ = manager
    pod = json.loads(json.dumps(POD))
    pod["spec"]["volumes"][0]["image"]["reference"] = "reg:5000/missing:1"
    got, failed = asyncio.run(images.ensure_volume_images(pod, pod["spec"]["containers"][0]))
    assert got == {}
    assert failed.reason == "ErrImagePull"
    assert failed.message == "manifest unknown: manifest unknown"
    again, failed = asyncio.run(images.ensure_volume_images(pod, pod["spec"]["containers"][0]))
    assert failed.reason == "ImagePullBackOff"
    assert failed.message == ('Back-off pulling image "reg:5000/missing:1": ErrImagePull: '
                              "manifest unknown: manifest unknown")
    texts = [m for _, m, _ in images.recorder.seen]  # type: ignore[attr-defined]
    assert 'Failed to pull image "reg:5000/missing:1": manifest unknown: manifest unknown' \
        in texts and "Error: ErrImagePull" in texts


def test_containers_starting_together_share_one_pull(
        manager: tuple[ImageManager, list[str]]) -> None:
    images, pulls = manager
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"][1]["volumeMounts"].append({"name": "site", "mountPath": "/x"})

    async def both() -> list[Any]:
        return list(await asyncio.gather(
            *(images.ensure_volume_images(pod, c) for c in pod["spec"]["containers"])))

    (a, _), (b, _) = asyncio.run(both())
    assert a == b and list(a) == ["site"]
    assert pulls == ["reg:5000/site:1 IfNotPresent"]
    assert [r for r, _, _ in images.recorder.seen].count("Pulling") == 1  # type: ignore[attr-defined]
