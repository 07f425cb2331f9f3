"""Image references ("busybox", "localhost:5000/app:1.0", "nginx@sha256:...") parsed and normalised.

Follows Docker's distribution/reference grammar and normalisation: a name without a registry
lives on docker.io, a single-component docker.io name lives under "library/", and a name without
tag or digest gets ":latest". Pure: it must not do I/O; it imports only `errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from podhost.images.errors import InvalidReferenceError

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_RE = re.compile(_DOMAIN, re.ASCII)
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(
    r"(?P<alg>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):(?P<hex>[0-9a-fA-F]{32,})",
    re.ASCII)
_ID_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)
_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}


def _invalid(text: str, why: str = "") -> InvalidReferenceError:
    detail = f": {why}" if why else ""
    return InvalidReferenceError(f'invalid reference format: "{text}"{detail}')


@dataclass(frozen=True)
class Reference:
    """A normalised image reference; str() gives "docker.io/library/busybox:latest"."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The fully qualified repository name, "docker.io/library/busybox"."""
        return f"{self.registry}/{self.repository}"

    def familiar_name(self) -> str:
        """The short repository name Docker shows: "busybox", "user/app", "quay.io/x/y"."""
        if self.registry != DEFAULT_REGISTRY:
            return self.name
        rest = self.repository.removeprefix(OFFICIAL_PREFIX)
        return rest if "/" not in rest else self.repository

    def familiar(self) -> str:
        """Docker's FamiliarString: "busybox:latest", "quay.io/x/y@sha256:..."."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """This repository with another tag and no digest."""
        if not _TAG_RE.fullmatch(tag):
            raise _invalid(f"{self.name}:{tag}", "invalid tag format")
        return Reference(self.registry, self.repository, tag, None)

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse_reference(text: str) -> Reference:
    """Parse and normalise like `docker pull`: "busybox" -> docker.io/library/busybox:latest."""
    if _ID_RE.fullmatch(text):
        raise InvalidReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    rest, digest = _split_digest(text)
    rest, tag = _split_tag(text, rest)
    registry, repository = _split_registry(rest)
    _check_name(text, registry, repository)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, repository, tag, digest)


def is_digest(text: str) -> bool:
    """True for a well-formed "sha256:<64 lowercase hex>" style digest."""
    try:
        _check_digest(text, text)
    except InvalidReferenceError:
        return False
    return True


def _split_digest(text: str) -> tuple[str, str | None]:
    name, at, digest = text.partition("@")
    if not at:
        return text, None
    _check_digest(text, digest)
    return name, digest


def _check_digest(text: str, digest: str) -> None:
    m = _DIGEST_RE.fullmatch(digest)
    if not m:
        raise _invalid(text, "invalid digest format")
    want = _DIGEST_HEX_LEN.get(m["alg"])
    if want is None:
        raise _invalid(text, f"unsupported digest algorithm {m['alg']!r}")
    if len(m["hex"]) != want or m["hex"] != m["hex"].lower():
        raise _invalid(text, "invalid checksum digest format")


def _split_tag(text: str, name: str) -> tuple[str, str | None]:
    """Split "host:5000/app:1.0" at the last colon that comes after the last slash."""
    colon = name.rfind(":")
    if colon <= name.rfind("/"):
        return name, None
    tag = name[colon + 1:]
    if not _TAG_RE.fullmatch(tag):
        raise _invalid(text, "invalid tag format")
    return name[:colon], tag


def _split_registry(name: str) -> tuple[str, str]:
    """Docker's splitDockerDomain: a first component with "." or ":" or "localhost" is a host."""
    first, slash, rest = name.partition("/")
    is_host = slash and (any(c in first for c in ".:") or first == "localhost"
                         or first.lower() != first)
    registry, repository = (first, rest) if is_host else (DEFAULT_REGISTRY, name)
    if registry == LEGACY_REGISTRY:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = OFFICIAL_PREFIX + repository
    return registry, repository


def _check_name(text: str, registry: str, repository: str) -> None:
    if not repository or not _DOMAIN_RE.fullmatch(registry):
        raise _invalid(text)
    if not _REPOSITORY_RE.fullmatch(repository):
        if _REPOSITORY_RE.fullmatch(repository.lower()):
            raise _invalid(text, f"repository name ({repository}) must be lowercase")
        raise _invalid(text)
    if len(registry) + 1 + len(repository) > NAME_MAX:
        raise _invalid(text, f"repository name must not be more than {NAME_MAX} characters")
