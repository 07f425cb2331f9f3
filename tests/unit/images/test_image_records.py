"""Pure rules over image records: name/ID resolution, tag moves, untagging."""

from __future__ import annotations

import pytest

from podhost.images.errors import ImageNotFoundError, InvalidReferenceError
from podhost.images.records import (
    digest_names,
    merge_record,
    move_tags,
    normalise_ids,
    owned,
    resolve,
    tag_names,
    untag_leaves_refs,
)

A = "sha256:" + "ab" * 32
B = "sha256:" + "ab" * 6 + "cd" * 26
MANIFEST = "sha256:" + "ef" * 32


def records() -> dict[str, dict]:
    a = merge_record(None, A, MANIFEST, [A], 1, [f"docker.io/library/nginx@{MANIFEST}"], None)
    b = merge_record(None, B, None, [B], 2, [], None)
    images = {A: a, B: b}
    move_tags(images, A, ["docker.io/library/nginx:latest", "quay.io/x/y:1"])
    move_tags(images, B, ["docker.io/library/busybox:latest"])
    return images


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", (A, "docker.io/library/nginx:latest")),
    ("docker.io/library/nginx:latest", (A, "docker.io/library/nginx:latest")),
    ("quay.io/x/y:1", (A, "quay.io/x/y:1")),
    (f"nginx@{MANIFEST}", (A, f"docker.io/library/nginx@{MANIFEST}")),
    (f"nginx:whatever@{MANIFEST}", (A, f"docker.io/library/nginx@{MANIFEST}")),
    ("busybox", (B, "docker.io/library/busybox:latest")),
    (A, (A, None)),
    (A[7:], (A, None)),
    (A[7:7 + 26], (A, None)),
    (B[7:7 + 14], (B, None)),
    ("sha256:" + B[7:21], (B, None)),
])
def test_resolve(text: str, expected: tuple[str, str | None]) -> None:
    assert resolve(records(), text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("redis", 'image "redis" not found'),
    ("abababababab", "ambiguous"),           # 12 hex: a prefix of both IDs
    ("ababab", 'image "ababab" not found'),  # too short for an ID prefix
    ("sha256:" + "0" * 64, "not found"),
    (f"redis@{MANIFEST}", "not found"),
])
def test_resolve_not_found(text: str, message: str) -> None:
    with pytest.raises(ImageNotFoundError, match=message):
        resolve(records(), text)


def test_resolve_invalid_name() -> None:
    with pytest.raises(InvalidReferenceError):
        resolve(records(), "Nginx")


def test_move_tags_takes_the_tag_from_the_other_image() -> None:
    images = records()
    move_tags(images, B, ["docker.io/library/nginx:latest"])
    assert images[A]["repo_tags"] == ["quay.io/x/y:1"]
    assert images[B]["repo_tags"] == ["docker.io/library/busybox:latest",
                                      "docker.io/library/nginx:latest"]


def test_untag_leaves_refs() -> None:
    images = records()
    assert untag_leaves_refs(images[A], "quay.io/x/y:1")
    assert not untag_leaves_refs(images[B], "docker.io/library/busybox:latest")
    assert untag_leaves_refs(images[A], f"docker.io/library/nginx@{MANIFEST}")


def test_name_helpers() -> None:
    assert tag_names(["nginx", "a/b:2"]) == ["docker.io/library/nginx:latest",
                                             "docker.io/a/b:2"]
    assert digest_names([f"nginx@{MANIFEST}"]) == [f"docker.io/library/nginx@{MANIFEST}"]
    with pytest.raises(InvalidReferenceError):
        tag_names([f"nginx@{MANIFEST}"])
    with pytest.raises(InvalidReferenceError):
        digest_names(["nginx:1"])
    assert normalise_ids([A, A[7:]]) == {A}
    assert owned(records()[A]) >= {A, MANIFEST}
