"""Pure parts of pulling: registries.conf, auth files, challenges, manifest selection."""

from __future__ import annotations

import base64
import json

import pytest

from podhost.images.auth import AuthConfig, auth_file_paths, normalise_key, parse_auth_file
from podhost.images.errors import AuthFileError, ImagePullError, RegistriesConfError
from podhost.images.puller import go_duration, repo_names, select_manifest
from podhost.images.reference import parse_reference
from podhost.images.registries import Endpoint, parse_registries, prefix_matches
from podhost.images.registry import parse_challenge

CONF = """
unqualified-search-registries = ["docker.io", "quay.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "127.0.0.1:1"
insecure = true
[[registry.mirror]]
location = "mirror.example.com/hub"

[[registry]]
prefix = "docker.io/library/busybox"
location = "internal.example.com/bb"

[[registry]]
location = "evil.example.com"
blocked = true

[[registry]]
prefix = "*.corp.example"
location = "proxy.example.com"
"""


def ref(text: str):  # type: ignore[no-untyped-def]
    return parse_reference(text)


def test_mirrors_then_origin_with_docker_hub_host() -> None:
    regs = parse_registries(CONF)
    assert regs.unqualified_search == ("docker.io", "quay.io")
    assert regs.sources(ref("nginx")) == [
        Endpoint("127.0.0.1:1", "library/nginx", True, True),
        Endpoint("mirror.example.com", "hub/library/nginx", False, True),
        Endpoint("registry-1.docker.io", "library/nginx", False, False)]


def test_longest_prefix_wins_and_rewrites_location() -> None:
    regs = parse_registries(CONF)
    assert regs.sources(ref("busybox:1.36")) == [
        Endpoint("internal.example.com", "bb", False, False)]
    assert regs.sources(ref("docker.io/library/busyboxy"))[0].host == "127.0.0.1:1"


def test_wildcard_and_unconfigured() -> None:
    regs = parse_registries(CONF)
    assert regs.sources(ref("a.corp.example/x/y:1")) == [
        Endpoint("proxy.example.com", "x/y", False, False)]
    assert regs.sources(ref("quay.io/x/y")) == [Endpoint("quay.io", "x/y", False, False)]


def test_blocked() -> None:
    with pytest.raises(ImagePullError, match='registry "evil.example.com" is blocked'):
        parse_registries(CONF, "/etc/r.conf").sources(ref("evil.example.com/app"))


@pytest.mark.parametrize("prefix,name,ok", [
    ("docker.io", "docker.io/library/x:1", True),
    ("docker.io/library/x", "docker.io/library/x:1", True),
    ("docker.io/library/x", "docker.io/library/xy:1", False),
    ("*.example.com", "a.b.example.com/x", True),
    ("*.example.com", "example.com/x", False)])
def test_prefix_matches(prefix: str, name: str, ok: bool) -> None:
    assert prefix_matches(prefix, name) is ok


@pytest.mark.parametrize("text,message", [
    ("registry = 1\n[", "invalid TOML"),
    ("[registries.search]\nregistries = []\n", "version 1 format"),
    ("[[registry]]\nlocation = 1\n", "location must be a string"),
    ("[[registry]]\nlocation = \"a\"\ninsecure = \"yes\"\n", "insecure must be true or false"),
    ("[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\ninsecure = true\n", "needs a location")])
def test_bad_registries_conf(text: str, message: str) -> None:
    with pytest.raises(RegistriesConfError, match=message):
        parse_registries(text)


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_lookup_most_specific_key_and_hub_aliases() -> None:
    entries = parse_auth_file(json.dumps({"auths": {
        "https://index.docker.io/v1/": _auth("hub", "p1"),
        "quay.io": _auth("q", "p2"),
        "quay.io/team": _auth("team", "p3"),
        "localhost:5000": {"username": "u", "password": "p4"},
        "ghcr.io": {"identitytoken": "x"}}}).encode(), "auth.json")
    auth = AuthConfig((entries,))
    assert auth.lookup("registry-1.docker.io", "library/nginx").username == "hub"
    assert auth.lookup("quay.io", "team/app").username == "team"
    assert auth.lookup("quay.io", "other/app").username == "q"
    assert auth.lookup("localhost:5000", "x").password == "p4"
    assert auth.lookup("ghcr.io", "x") is None
    assert "p1" not in repr(auth)


def test_first_file_wins() -> None:
    first = parse_auth_file(json.dumps({"auths": {"quay.io": _auth("a", "1")}}).encode(), "1")
    second = parse_auth_file(json.dumps({"auths": {"quay.io/x": _auth("b", "2")}}).encode(), "2")
    assert AuthConfig((first, second)).lookup("quay.io", "x/y").username == "a"


@pytest.mark.parametrize("data,message", [
    (b"{", "invalid JSON"), (b'{"auths": []}', "must be an object"),
    (b'{"auths": {"a": {"auth": "!!"}}}', "not base64"),
    (b'{"auths": {"a": {"auth": "dXNlcg=="}}}', "not base64")])
def test_bad_auth_file(data: bytes, message: str) -> None:
    with pytest.raises(AuthFileError, match=message):
        parse_auth_file(data, "auth.json")


def test_auth_file_order() -> None:
    env = {"HOME": "/h", "XDG_RUNTIME_DIR": "/run/user/0"}
    assert [str(p) for p in auth_file_paths(env)] == [
        "/run/user/0/containers/auth.json", "/h/.config/containers/auth.json",
        "/h/.docker/config.json"]
    env["REGISTRY_AUTH_FILE"] = "/a.json"
    assert str(auth_file_paths(env)[0]) == "/a.json"
    assert normalise_key("https://index.docker.io/v1/") == "docker.io"
    assert normalise_key("quay.io/ns/") == "quay.io/ns"


def test_parse_challenge() -> None:
    assert parse_challenge('Bearer realm="https://auth.docker.io/token",'
                           'service="registry.docker.io",scope="repository:library/nginx:pull"'
                           ) == ("bearer", {"realm": "https://auth.docker.io/token",
                                            "service": "registry.docker.io",
                                            "scope": "repository:library/nginx:pull"})
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64
F = "sha256:" + "c" * 64


def test_select_manifest_picks_platform_and_skips_attestations() -> None:
    index = json.dumps({"manifests": [
        {"digest": D, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": F, "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        {"digest": E, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    assert select_manifest(index, ("linux", "amd64", None)).digest == E
    assert select_manifest(index, ("linux", "arm64", "v8")).digest == D
    with pytest.raises(ImagePullError, match="no image found in manifest list for architecture "
                                             "s390x"):
        select_manifest(index, ("linux", "s390x", None))


def test_names_and_durations() -> None:
    assert repo_names(ref("nginx"), D) == (["docker.io/library/nginx:latest"],
                                           [f"docker.io/library/nginx@{D}"])
    assert repo_names(ref(f"nginx@{D}"), D) == ([], [f"docker.io/library/nginx@{D}"])
    assert [go_duration(s) for s in (0.4781, 1.2, 2.0, 62.5)] == ["478ms", "1.2s", "2s",
                                                                   "1m2.5s"]
