"""ServiceAccount tokens as kube-apiserver makes them (pkg/serviceaccount/claims.go): ES256 JWTs
with the issuer, audiences, expiry and the `kubernetes.io` claims (namespace, service account,
bound Pod and node), signed with the node's key. Pure given the key: no I/O, no clock of its own.

The JWS compact form is made and checked here with `cryptography` only: the header must be
exactly `ES256` with our key id, so `alg: none` or an HMAC keyed with the public key (the classic
forgeries) are refused before any signature is looked at.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600  # TokenRequest's default
POD_TOKEN_EXPIRATION = 3607  # what the ServiceAccount admission asks for a projected token
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2 ** 32
LEEWAY = 60  # seconds of clock skew accepted on nbf / exp, as jwt.DefaultLeeway
SA_PREFIX = "system:serviceaccount:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    """keyIDFromPublicKey: base64url(sha256(DER of the public key))."""
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


def jwk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public.public_numbers()
    return {"use": "sig", "kty": "EC", "kid": key_id(public), "crv": "P-256", "alg": "ES256",
            "x": _b64(numbers.x.to_bytes(32, "big")), "y": _b64(numbers.y.to_bytes(32, "big"))}


def openid_configuration(issuer: str, server_url: str) -> dict[str, Any]:
    return {"issuer": issuer, "jwks_uri": f"{server_url}/openid/v1/jwks",
            "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"]}


@dataclass(frozen=True)
class Binding:
    """What a token is bound to: its service account, and optionally a Pod and the node."""
    namespace: str
    service_account: str
    service_account_uid: str
    pod_name: str = ""
    pod_uid: str = ""
    node_name: str = ""
    node_uid: str = ""


@dataclass(frozen=True)
class Claims:
    binding: Binding
    audiences: tuple[str, ...]
    issued_at: int
    expires_at: int
    token_id: str = field(default="")

    @property
    def username(self) -> str:
        return f"{SA_PREFIX}{self.binding.namespace}:{self.binding.service_account}"


def claims_json(c: Claims, issuer: str) -> dict[str, Any]:
    b = c.binding
    private: dict[str, Any] = {"namespace": b.namespace,
                               "serviceaccount": {"name": b.service_account,
                                                  "uid": b.service_account_uid}}
    if b.pod_name:
        private["pod"] = {"name": b.pod_name, "uid": b.pod_uid}
    if b.node_name:
        private["node"] = {"name": b.node_name, "uid": b.node_uid}
    return {"aud": list(c.audiences), "exp": c.expires_at, "iat": c.issued_at,
            "iss": issuer, "jti": c.token_id or str(uuid.uuid4()), "kubernetes.io": private,
            "nbf": c.issued_at, "sub": c.username}


def sign(key: ec.EllipticCurvePrivateKey, claims: Claims, issuer: str = ISSUER) -> str:
    header = {"alg": "ES256", "kid": key_id(key.public_key())}
    body = json.dumps(claims_json(claims, issuer), separators=(",", ":"))
    signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        _b64(body.encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _payload(token: str, public: ec.EllipticCurvePublicKey) -> dict[str, Any] | None:
    """The verified claims of a compact JWS, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        if not isinstance(header, dict) or header.get("alg") != "ES256" or \
                header.get("kid", key_id(public)) != key_id(public):
            return None
        raw = _unb64(parts[2])
        if len(raw) != 64:
            return None
        sig = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                   int.from_bytes(raw[32:], "big"))
        public.verify(sig, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, InvalidSignature, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _ref(private: dict[str, Any], key: str) -> tuple[str, str]:
    ref = private.get(key)
    if not isinstance(ref, dict):
        return "", ""
    return str(ref.get("name") or ""), str(ref.get("uid") or "")


def verify(token: str, public: ec.EllipticCurvePublicKey, now: int,
           audiences: tuple[str, ...] = (ISSUER,), issuer: str = ISSUER) -> Claims | None:
    """The claims of a token we signed that is valid at `now` for one of `audiences`."""
    payload = _payload(token, public)
    if payload is None or payload.get("iss") != issuer:
        return None
    aud = payload.get("aud")
    aud_list = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not set(aud_list) & set(audiences):
        return None
    exp, nbf = payload.get("exp"), payload.get("nbf", payload.get("iat", 0))
    if not isinstance(exp, int) or not isinstance(nbf, int) or \
            now > exp + LEEWAY or now + LEEWAY < nbf:
        return None
    private = payload.get("kubernetes.io")
    if not isinstance(private, dict) or not isinstance(private.get("namespace"), str):
        return None
    sa, sa_uid = _ref(private, "serviceaccount")
    pod, pod_uid = _ref(private, "pod")
    node, node_uid = _ref(private, "node")
    if not sa or payload.get("sub") != f"{SA_PREFIX}{private['namespace']}:{sa}":
        return None
    binding = Binding(private["namespace"], sa, sa_uid, pod, pod_uid, node, node_uid)
    return Claims(binding, tuple(str(a) for a in aud_list), int(payload.get("iat", nbf)), exp,
                  str(payload.get("jti") or ""))


def expiration_error(seconds: int) -> str | None:
    """TokenRequest validation of spec.expirationSeconds, in the API server's words."""
    if seconds < MIN_EXPIRATION:
        return "may not specify a duration less than 10 minutes"
    if seconds > MAX_EXPIRATION:
        return "may not specify a duration larger than 2^32 seconds"
    return None
