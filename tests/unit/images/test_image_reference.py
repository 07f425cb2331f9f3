"""parse_reference: Docker-compatible normalisation and error messages."""

from __future__ import annotations

import pytest

from podhost.images.errors import ImageError, InvalidReferenceError
from podhost.images.reference import Reference, is_digest, parse_reference

HEX = "0123456789abcdef" * 4
DIGEST = f"sha256:{HEX}"


@pytest.mark.parametrize(("text", "full", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1", "busybox:1"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("docker.io/library/foo/bar:1", "docker.io/library/foo/bar:1", "library/foo/bar:1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),
    ("quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("gcr.io/a/b/c:1_x", "gcr.io/a/b/c:1_x", "gcr.io/a/b/c:1_x"),
    ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
    ("a-b__c/e.f-g:T_1.2-rc", "docker.io/a-b__c/e.f-g:T_1.2-rc", "a-b__c/e.f-g:T_1.2-rc"),
    (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}", f"nginx@{DIGEST}"),
    (f"nginx:1.25@{DIGEST}", f"docker.io/library/nginx:1.25@{DIGEST}", f"nginx:1.25@{DIGEST}"),
    (f"localhost:5000/a/b@{DIGEST}", f"localhost:5000/a/b@{DIGEST}",
     f"localhost:5000/a/b@{DIGEST}"),
])
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse_reference(full) == ref


def test_fields() -> None:
    ref = parse_reference(f"localhost:5000/team/app:1.0@{DIGEST}")
    assert ref == Reference("localhost:5000", "team/app", "1.0", DIGEST)
    assert ref.name == "localhost:5000/team/app"
    assert parse_reference(f"nginx@{DIGEST}").tag is None
    assert parse_reference("nginx").digest is None


@pytest.mark.parametrize(("text", "message"), [
    ("", "invalid reference format"),
    ("Nginx", "repository name (library/Nginx) must be lowercase"),
    ("docker.io/library/Busybox", "must be lowercase"),
    ("nginx:", "invalid tag format"),
    (":latest", "invalid reference format"),
    ("nginx:bad tag", "invalid tag format"),
    ("nginx:" + "x" * 129, "invalid tag format"),
    ("nginx:-x", "invalid tag format"),
    ("nginx@sha256:abc", "invalid digest format"),
    (f"nginx@sha256:{HEX[:40]}", "invalid checksum digest format"),
    (f"nginx@sha256:{HEX.upper()}", "invalid checksum digest format"),
    ("nginx@sha256", "invalid digest format"),
    (f"nginx@md5:{HEX[:32]}", "unsupported digest algorithm"),
    ("-nginx", "invalid reference format"),
    ("nginx/", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("nginx..x", "invalid reference format"),
    ("nginx@@x", "invalid digest format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("x/" * 100 + "y" * 60, "must not be more than 255 characters"),
    ("bad_host:5000:1/x", "invalid reference format"),
])
def test_rejects_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert message in str(info.value)
    assert isinstance(info.value, ImageError) and isinstance(info.value, ValueError)


def test_with_tag_and_is_digest() -> None:
    ref = parse_reference(f"nginx:1@{DIGEST}").with_tag("2")
    assert str(ref) == "docker.io/library/nginx:2"
    with pytest.raises(InvalidReferenceError):
        ref.with_tag("no good")
    assert is_digest(DIGEST)
    assert not is_digest("sha256:abc")
    assert not is_digest(HEX)
