"""Secrets encrypted at rest, as kube-apiserver's EncryptionConfiguration with the `aesgcm`
provider stores them: `k8s:enc:aesgcm:v1:<key name>:` then base64 of a 12-byte nonce and the
AES-256-GCM ciphertext of the object's JSON, authenticated with its key (resource/namespace/name)
so a ciphertext cannot be moved to another object.

The keys file (`<root>/pki/encryption-keys`, mode 0600) holds one `name:base64-key` per line;
the first encrypts, all decrypt. Rotation: put a new key first, restart (every Secret is then
rewritten with it at start-up), then drop the old line and restart again.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "k8s:enc:aesgcm:v1:"
ENCRYPTED = frozenset({"secrets"})


class CipherError(OSError):
    pass


class SecretCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise CipherError("no encryption key")
        self.keys = dict(keys)
        self.primary = keys[0][0]

    def encrypt(self, aad: str, data: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.keys[self.primary]).encrypt(nonce, data.encode(), aad.encode())
        return f"{PREFIX}{self.primary}:" + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, aad: str, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was on; rewritten at start-up
        name, _, body = stored[len(PREFIX):].partition(":")
        key = self.keys.get(name)
        if key is None:
            raise CipherError(f"no key named {name!r} to decrypt {aad}")
        raw = base64.b64decode(body)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag:
            raise CipherError(f"cannot decrypt {aad} with key {name!r}") from None

    def readable(self, stored: str) -> bool:
        """Plain, or sealed with a key we still have."""
        return not stored.startswith(PREFIX) or \
            stored[len(PREFIX):].partition(":")[0] in self.keys

    def current(self, stored: str) -> bool:
        """Encrypted with the primary key."""
        return stored.startswith(f"{PREFIX}{self.primary}:")


def load_or_create(path: Path) -> SecretCipher:
    """The keys of `path`, made (one fresh 256-bit key, mode 0600) when it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("key1:" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    keys = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.strip().partition(":")
        try:
            key = base64.b64decode(value, validate=True)
        except ValueError:
            key = b""
        if not sep or not name or len(key) not in (16, 24, 32):
            raise CipherError(f"{path}:{n}: expected NAME:BASE64 of a 16, 24 or 32-byte key")
        keys.append((name, key))
    return SecretCipher(keys)
