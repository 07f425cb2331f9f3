"""Pulls from a real local docker-registry: plain, mirrors with fall-back, basic auth, resume."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from podhost.images.auth import AuthConfig, parse_auth_file
from podhost.images.errors import ImageNeverPullError, ImagePullError
from podhost.images.puller import DOWNLOADS, PullProgress, ensure_image, pull_image
from podhost.images.registries import parse_registries
from podhost.images.store import ImageStore
from tests.images_registry import LocalRegistry, mirror_conf, push_test_images, start_registry

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

NO_AUTH = AuthConfig()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"), free_port())
    try:
        push_test_images(reg)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("authreg"), free_port(), "alice", "s3cret")
    try:
        reg.push(Path("build/test-images/busybox.oci.tar").resolve(), "team/busybox:1.0")
        yield reg
    finally:
        reg.stop()


def insecure(host: str) -> str:
    return f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


class Recording(PullProgress):
    def __init__(self) -> None:
        self.sources: list[str] = []
        self.bytes: dict[str, int] = {}

    def resolved(self, ref, source, layers):  # type: ignore[no-untyped-def]
        self.sources.append(source)

    def layer(self, digest: str, done: int, total: int) -> None:
        self.bytes[digest] = done


def test_pull_by_tag_then_digest(registry: LocalRegistry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    regs = parse_registries(insecure(registry.host))
    image = run(pull_image(store, f"{registry.host}/library/busybox", regs, NO_AUTH))
    assert image.repo_tags == (f"{registry.host}/library/busybox:latest",)
    digest = image.repo_digests[0].split("@")[1]
    assert store.layer_dirs(image)[0].joinpath("bin/busybox").exists()
    again = run(pull_image(store, f"{registry.host}/library/busybox@{digest}", regs, NO_AUTH))
    assert again.id == image.id
    assert not list((store.root / DOWNLOADS).iterdir())


def test_docker_io_through_mirror_with_broken_mirror_first(registry: LocalRegistry,
                                                           tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    closed = f"127.0.0.1:{free_port()}"
    regs = parse_registries(mirror_conf([closed, registry.host]))
    progress = Recording()
    image, pulled, seconds = run(ensure_image(store, "nginx", "Always", regs, NO_AUTH, progress))
    assert pulled and seconds > 0
    assert image.repo_tags == ("docker.io/library/nginx:latest",)
    assert progress.sources == [f"{registry.host}/library/nginx"]
    assert sum(progress.bytes.values()) > 1_000_000
    # IfNotPresent: no network at all (an empty configuration would go to docker.io)
    same, pulled, _ = run(ensure_image(store, "nginx", "IfNotPresent", parse_registries(""),
                                       NO_AUTH))
    assert same.id == image.id and not pulled


def test_never_and_missing(registry: LocalRegistry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    regs = parse_registries(mirror_conf([registry.host]))
    with pytest.raises(ImageNeverPullError,
                       match='Container image "nginx" is not present with pull policy of Never'):
        run(ensure_image(store, "nginx", "Never", regs, NO_AUTH))
    with pytest.raises(ImagePullError, match="manifest unknown"):
        run(pull_image(store, f"{registry.host}/library/nope:1", parse_registries(
            insecure(registry.host)), NO_AUTH))
    assert store.list() == []


def test_blocked_registry(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    regs = parse_registries('[[registry]]\nlocation = "evil.example.com"\nblocked = true\n', "r.conf")
    with pytest.raises(ImagePullError, match='registry "evil.example.com" is blocked in r.conf'):
        run(pull_image(store, "evil.example.com/x:1", regs, NO_AUTH))


def test_basic_auth(auth_registry: LocalRegistry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    regs = parse_registries(insecure(auth_registry.host))
    ref = f"{auth_registry.host}/team/busybox:1.0"
    with pytest.raises(ImagePullError, match="unauthorized"):
        run(pull_image(store, ref, regs, NO_AUTH))
    token = base64.b64encode(b"alice:s3cret").decode()
    auth = AuthConfig((parse_auth_file(json.dumps(
        {"auths": {auth_registry.host: {"auth": token}}}).encode(), "auth.json"),))
    image = run(pull_image(store, ref, regs, auth))
    assert image.repo_tags == (ref,)
    wrong = AuthConfig((parse_auth_file(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(b"alice:nope").decode()}}}).encode(), "auth.json"),))
    with pytest.raises(ImagePullError, match="unauthorized"):
        run(pull_image(ImageStore(tmp_path / "other"), ref, regs, wrong))


def test_resume_from_partial_blob(registry: LocalRegistry, tmp_path: Path) -> None:
    """A partial blob left by an interrupted pull is completed with a Range request."""
    from podhost.images.oci import parse_manifest
    from podhost.images.registries import Endpoint
    from podhost.images.registry import RegistryClient

    ep = Endpoint(registry.host, "library/nginx", insecure=True)

    async def go() -> tuple[Path, int]:
        async with RegistryClient() as client:
            data, _, _ = await client.get_manifest(ep, "latest")
            layer = max(parse_manifest(data).layers, key=lambda d: d.size)
            full = await client.download_blob(ep, layer.digest, layer.size, tmp_path / "a")
            half = full.read_bytes()[: layer.size // 2]
            (tmp_path / "b").mkdir()
            partial = tmp_path / "b" / (full.name + ".partial")
            partial.write_bytes(half)
            seen: list[int] = []
            out = await client.download_blob(ep, layer.digest, layer.size, tmp_path / "b",
                                             lambda done, total: seen.append(done))
            assert out.read_bytes() == full.read_bytes()
            return out, seen[0]

    (tmp_path / "a").mkdir()
    out, first = run(go())
    assert first > out.stat().st_size // 2  # progress started after the resumed half
    assert not out.with_name(out.name + ".partial").exists()
