"""Where to pull an image from: containers-registries.conf(5) version 2, parsed and applied.

`parse_registries(text)` reads the TOML; `Registries.sources(ref)` gives the endpoints to try
for a reference, mirrors first and the origin last, or raises for a `blocked` registry. Pure
apart from `load_registries(path)`, which reads the file (a missing default file means "no
configuration"). Short names never reach this module: `reference.parse_reference` already
normalises "nginx" to docker.io/library/nginx as Docker and Kubernetes do, so
`unqualified-search-registries` is parsed but not used for resolution (see docs/images.md).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podhost.images.errors import ImagePullError, RegistriesConfError
from podhost.images.reference import DEFAULT_REGISTRY, Reference

DEFAULT_PATH = Path("/etc/containers/registries.conf")
ENV_PATH = "PODHOST_REGISTRIES_CONF"
DOCKER_HUB_HOST = "registry-1.docker.io"


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False


@dataclass(frozen=True)
class RegistryRule:
    """One [[registry]] table: references starting with prefix are served by location."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One place to pull a repository from: host[:port], the repository there, TLS policy."""

    host: str
    repository: str
    insecure: bool = False
    mirror: bool = False

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}"


@dataclass(frozen=True)
class Registries:
    rules: tuple[RegistryRule, ...] = ()
    unqualified_search: tuple[str, ...] = ()
    source: str = "(none)"

    def rule_for(self, ref: Reference) -> RegistryRule | None:
        """The [[registry]] whose prefix matches ref best (longest prefix wins)."""
        name = str(ref)
        matches = [r for r in self.rules if prefix_matches(r.prefix, name)]
        return max(matches, key=lambda r: len(r.prefix), default=None)

    def sources(self, ref: Reference) -> list[Endpoint]:
        """Endpoints to try in order: the mirrors, then the (possibly rewritten) origin."""
        rule = self.rule_for(ref)
        if rule is None:
            return [_endpoint(ref.name, False, False)]
        if rule.blocked:
            raise ImagePullError(f'registry "{rule.prefix}" is blocked in {self.source}: '
                                 f'refusing to pull "{ref}"')
        rest = _rest_of(rule.prefix, ref.name)
        out = [_endpoint(m.location + rest, m.insecure, True) for m in rule.mirrors]
        out.append(_endpoint(rule.location + rest, rule.insecure, False))
        return out


def prefix_matches(prefix: str, name: str) -> bool:
    """containers-registries.conf prefix rules: whole path components, or "*.domain" hosts."""
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return host.endswith(prefix[1:])
    if not name.startswith(prefix):
        return False
    return len(name) == len(prefix) or name[len(prefix)] in "/:@"


def _rest_of(prefix: str, name: str) -> str:
    if prefix.startswith("*."):
        return name[len(name.split("/", 1)[0]):]
    return name[len(prefix):]


def is_loopback(host: str) -> bool:
    """Whether host[:port] is on this machine: `localhost`, 127.0.0.0/8 or ::1 (`[::1]:5000`).

    Docker lets such registries answer in plain HTTP without configuration; so does podhost.
    """
    name = host
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def with_tls_verify(endpoints: list[Endpoint], tls_verify: bool | None) -> list[Endpoint]:
    """podman's --tls-verify: False allows unverified TLS and plain HTTP everywhere; True
    requires verified HTTPS even where registries.conf or the loopback rule would not; None
    (not given) keeps what registries.conf and the loopback rule say."""
    if tls_verify is None:
        return endpoints
    return [dataclasses.replace(ep, insecure=not tls_verify) for ep in endpoints]


def _endpoint(location: str, insecure: bool, mirror: bool) -> Endpoint:
    host, _, repository = location.partition("/")
    if host == DEFAULT_REGISTRY:
        host = DOCKER_HUB_HOST
    return Endpoint(host, repository, insecure or is_loopback(host), mirror)


def parse_registries(text: str, source: str = "registries.conf") -> Registries:
    """Parse registries.conf v2 TOML text."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RegistriesConfError(f"{source}: invalid TOML: {e}") from None
    if "registries" in doc:
        raise RegistriesConfError(f"{source}: the version 1 format ([registries.search] ...) "
                                  "is not supported; use [[registry]] tables")
    tables = doc.get("registry", [])
    if not isinstance(tables, list):
        raise RegistriesConfError(f"{source}: registry must be an array of tables ([[registry]])")
    search = doc.get("unqualified-search-registries", [])
    if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
        raise RegistriesConfError(f"{source}: unqualified-search-registries must be strings")
    return Registries(tuple(_rule(t, source) for t in tables), tuple(search), source)


def _rule(table: Any, source: str) -> RegistryRule:
    if not isinstance(table, dict):
        raise RegistriesConfError(f"{source}: [[registry]] must be a table")
    location = _str(table, "location", source).rstrip("/")
    prefix = _str(table, "prefix", source).rstrip("/") or location
    if not prefix:
        raise RegistriesConfError(f"{source}: [[registry]] needs a location or a prefix")
    if not location and not table.get("blocked"):
        location = prefix
    mirrors = table.get("mirror", [])
    if not isinstance(mirrors, list):
        raise RegistriesConfError(f"{source}: mirror of {prefix!r} must be [[registry.mirror]]")
    return RegistryRule(prefix, location, _bool(table, "insecure", source),
                        _bool(table, "blocked", source), tuple(_mirror(m, source) for m in mirrors))


def _mirror(table: Any, source: str) -> Mirror:
    if not isinstance(table, dict) or not _str(table, "location", source):
        raise RegistriesConfError(f"{source}: every [[registry.mirror]] needs a location")
    return Mirror(_str(table, "location", source).rstrip("/"), _bool(table, "insecure", source))


def _str(table: dict[str, Any], key: str, source: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise RegistriesConfError(f"{source}: {key} must be a string, got {value!r}")
    return value


def _bool(table: dict[str, Any], key: str, source: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise RegistriesConfError(f"{source}: {key} must be true or false, got {value!r}")
    return value


def registries_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The file to read and whether it was asked for (a missing default file is fine)."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get(ENV_PATH)
    if env:
        return Path(env), True
    return DEFAULT_PATH, False


def load_registries(explicit: str | os.PathLike[str] | None = None) -> Registries:
    """Read registries.conf: --registries-conf, else $PODHOST_REGISTRIES_CONF, else the default."""
    path, asked = registries_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if asked:
            raise RegistriesConfError(f"{path}: no such file") from None
        return Registries()
    except OSError as e:
        raise RegistriesConfError(f"{path}: {e}") from None
    return parse_registries(text, str(path))
