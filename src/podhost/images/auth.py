"""Registry credentials from containers-auth.json(5) files and ~/.docker/config.json.

Files are read in containers/image's order, first match wins: $REGISTRY_AUTH_FILE, else
${XDG_RUNTIME_DIR}/containers/auth.json; then $XDG_CONFIG_HOME/containers/auth.json (default
~/.config); then ~/.docker/config.json. Inside a file the most specific key wins:
"host/ns/repo", then "host/ns", then "host". Legacy Docker Hub keys
("https://index.docker.io/v1/") count as docker.io. Credential helpers are not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podhost.images.errors import AuthFileError
from podhost.images.registries import DOCKER_HUB_HOST

_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AuthConfig:
    """Credentials by normalised key ("host" or "host/path"), one dict per file, in order."""

    files: tuple[Mapping[str, Credentials], ...] = ()

    def lookup(self, host: str, repository: str) -> Credentials | None:
        for entries in self.files:
            for key in _candidate_keys(_normalise_host(host), repository):
                if key in entries:
                    return entries[key]
        return None


def _candidate_keys(host: str, repository: str) -> list[str]:
    parts = repository.split("/") if repository else []
    return [f"{host}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)] + [host]


def _normalise_host(host: str) -> str:
    return "docker.io" if host in _HUB_ALIASES or host == DOCKER_HUB_HOST else host


def normalise_key(key: str) -> str:
    """ "https://index.docker.io/v1/" -> "docker.io"; "quay.io/ns/" -> "quay.io/ns"."""
    key = key.removeprefix("https://").removeprefix("http://").rstrip("/")
    host, _, path = key.partition("/")
    if host in _HUB_ALIASES and path in ("", "v1", "v2"):
        return "docker.io"
    return f"{_normalise_host(host)}/{path}" if path else _normalise_host(host)


def parse_auth_file(data: bytes, source: str) -> dict[str, Credentials]:
    """The "auths" entries of an auth.json or docker config.json, keyed by normalised key."""
    try:
        doc = json.loads(data or b"{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise AuthFileError(f"{source}: invalid JSON: {e}") from None
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise AuthFileError(f'{source}: "auths" must be an object')
    out = {}
    for key, entry in auths.items():
        creds = _credentials(entry, f"{source}: {key}")
        if creds is not None:
            out[normalise_key(key)] = creds
    return out


def _credentials(entry: Any, where: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise AuthFileError(f"{where}: entry must be an object")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"], validate=True).decode()
            user, sep, password = decoded.partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise AuthFileError(f'{where}: "auth" is not base64 of "user:password"') from None
        if not sep:
            raise AuthFileError(f'{where}: "auth" is not base64 of "user:password"')
        return Credentials(user, password)
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None  # e.g. {"identitytoken": ...} or a credential helper: not supported


def auth_file_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """Candidate files in lookup order."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    paths = []
    if env.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(env["REGISTRY_AUTH_FILE"]))
    elif env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    paths.append(home / ".docker" / "config.json")
    return paths


def load_auth(env: Mapping[str, str] | None = None) -> AuthConfig:
    """Read every existing auth file (missing files are skipped)."""
    files = []
    for path in auth_file_paths(env):
        try:
            files.append(parse_auth_file(path.read_bytes(), str(path)))
        except FileNotFoundError:
            continue
        except OSError as e:
            raise AuthFileError(f"{path}: {e}") from None
    return AuthConfig(tuple(files))
