"""ServiceAccount tokens: the TokenRequest API (`serviceaccounts/NAME/token`), the node's
projected tokens (api.serviceaccount.TokenProvider), authentication of bearer JWTs and the
issuer's discovery documents (`/.well-known/openid-configuration`, `/openid/v1/jwks`).

A token is valid while its signature, issuer, audience and expiry hold *and* what it is bound
to still exists: the ServiceAccount (same uid) and, for a Pod-bound token, the Pod (same uid).
Tokens are never logged.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from podhost.api import errors, meta, satoken
from podhost.api.rbac import AUTHENTICATED, User
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, ok
from podhost.apiserver.http import Request, Response
from podhost.store.sqlite import Store

TOKEN_REQUEST = "TokenRequest"
AUTH_VERSION = "authentication.k8s.io/v1"


def sa_user(claims: satoken.Claims, sa_uid: str) -> User:
    ns = claims.binding.namespace
    extra: list[tuple[str, tuple[str, ...]]] = []
    if claims.binding.pod_name:
        extra += [("authentication.kubernetes.io/pod-name", (claims.binding.pod_name,)),
                  ("authentication.kubernetes.io/pod-uid", (claims.binding.pod_uid,))]
    if claims.binding.node_name:
        extra.append(("authentication.kubernetes.io/node-name", (claims.binding.node_name,)))
    if claims.token_id:
        extra.append(("authentication.kubernetes.io/credential-id",
                      (f"JTI={claims.token_id}",)))
    return User(claims.username, service_account_groups(ns), sa_uid, tuple(extra))


def service_account_groups(ns: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{ns}", AUTHENTICATED)


def _timestamp(seconds: int) -> str:
    return meta.rfc3339(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))


class TokenService:
    def __init__(self, store: Store, key: ec.EllipticCurvePrivateKey, server_url: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.key, self.server_url, self.clock = store, key, server_url, clock
        self.public = key.public_key()
        self._cache: dict[tuple[str, str, int], tuple[str, int, int]] = {}
        self._verified: dict[str, satoken.Claims] = {}  # token → claims whose signature held
        self._lock = threading.Lock()

    # -- minting ----------------------------------------------------------------------------
    def issue(self, binding: satoken.Binding, audiences: tuple[str, ...],
              seconds: int) -> tuple[str, int]:
        now = int(self.clock())
        claims = satoken.Claims(binding, audiences, now, now + seconds)
        return satoken.sign(self.key, claims), now + seconds

    def _binding(self, ns: str, sa_name: str, pod: Obj | None) -> satoken.Binding:
        sa = self.store.get("serviceaccounts", ns, sa_name)
        if pod is None:
            return satoken.Binding(ns, sa_name, sa["metadata"].get("uid", ""))
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        node_uid = ""
        if node_name:
            try:
                node_uid = self.store.get("nodes", "", node_name)["metadata"].get("uid", "")
            except errors.NotFoundError:
                node_name = ""
        return satoken.Binding(ns, sa_name, sa["metadata"].get("uid", ""),
                               pod["metadata"]["name"], pod["metadata"].get("uid", ""),
                               node_name, node_uid)

    def pod_token(self, pod: Obj, audience: str, expiration_seconds: int) -> str:
        """The token of a Pod's projection, kept until 80% of its life has passed (kubelet's
        token manager), so refreshing the volume rewrites it only then."""
        uid = pod["metadata"].get("uid", "")
        key = (uid, audience, expiration_seconds)
        now = int(self.clock())
        with self._lock:
            for k in [k for k, (_, _, exp) in self._cache.items() if exp < now]:
                del self._cache[k]
            found = self._cache.get(key)
            if found and now < found[1] + 0.8 * (found[2] - found[1]):
                return found[0]
        try:
            binding = self._binding(pod["metadata"].get("namespace") or "default",
                                    str((pod.get("spec") or {}).get("serviceAccountName")
                                        or "default"), pod)
        except errors.NotFoundError as e:
            raise LookupError(e.message) from None
        audiences = (audience,) if audience else (satoken.ISSUER,)
        seconds = max(expiration_seconds or satoken.POD_TOKEN_EXPIRATION, satoken.MIN_EXPIRATION)
        token, exp = self.issue(binding, audiences, seconds)
        with self._lock:
            self._cache[key] = (token, now, exp)
        return token

    # -- authentication ---------------------------------------------------------------------
    def _claims(self, token: str) -> satoken.Claims | None:
        """verify, with the signature check remembered (the bound objects are looked up on
        every request, the expiry checked again)."""
        now = int(self.clock())
        claims = self._verified.get(token)
        if claims is not None:
            return claims if now <= claims.expires_at + satoken.LEEWAY else None
        claims = satoken.verify(token, self.public, now)
        if claims is not None:
            with self._lock:
                if len(self._verified) >= 4096:
                    self._verified.clear()
                self._verified[token] = claims
        return claims

    def authenticate(self, token: str) -> User | None:
        claims = self._claims(token)
        if claims is None:
            return None
        b = claims.binding
        sa = self.store.uid_of("serviceaccounts", b.namespace, b.service_account)
        if sa is None or sa[1] or (b.service_account_uid and sa[0] != b.service_account_uid):
            return None
        if b.pod_name:
            pod = self.store.uid_of("pods", b.namespace, b.pod_name)
            if pod is None or pod[0] != b.pod_uid:
                return None
            if pod[1] and meta.parse_time(pod[1]).timestamp() < self.clock() - 60:
                return None
        return sa_user(claims, sa[0])

    # -- the API ----------------------------------------------------------------------------
    def token_request(self, request: Request, ns: str, name: str) -> Response:
        if request.method != "POST":
            raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                               "requested resource")
        body = decode_body(request, TOKEN_REQUEST)
        if not isinstance(body, dict):
            raise errors.BadRequestError("the body must be a TokenRequest")
        spec: dict[str, Any] = dict(body.get("spec") or {})
        audiences = tuple(spec.get("audiences") or (satoken.ISSUER,))
        seconds = int(spec.get("expirationSeconds") or satoken.DEFAULT_EXPIRATION)
        if (problem := satoken.expiration_error(seconds)) is not None:
            raise errors.InvalidError(f"{TOKEN_REQUEST}.authentication.k8s.io", name, [
                errors.invalid("spec.expirationSeconds", seconds, problem)])
        self.store.get("serviceaccounts", ns, name)  # 404 when missing
        pod = self._bound_pod(ns, name, spec.get("boundObjectRef"))
        token, exp = self.issue(self._binding(ns, name, pod), audiences, seconds)
        spec.update({"audiences": list(audiences), "expirationSeconds": seconds})
        return ok({"kind": TOKEN_REQUEST, "apiVersion": AUTH_VERSION,
                   "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                   "spec": spec, "status": {"token": token,
                                            "expirationTimestamp": _timestamp(exp)}}, 201)

    def _bound_pod(self, ns: str, sa_name: str, ref: Any) -> Obj | None:
        if not isinstance(ref, dict) or not ref.get("kind"):
            return None
        if ref.get("kind") != "Pod":
            raise errors.BadRequestError(f'cannot bind token to object of type {ref.get("kind")}'
                                         " (only Pod is supported by podhost)")
        pod = self.store.get("pods", ns, str(ref.get("name") or ""))
        if ref.get("uid") and ref["uid"] != pod["metadata"].get("uid"):
            raise errors.ConflictError(
                f'the UID in the bound object reference ({ref["uid"]}) does not match the UID '
                f'in record. The object might have been deleted and then recreated')
        if ((pod.get("spec") or {}).get("serviceAccountName") or "default") != sa_name:
            raise errors.BadRequestError(f'cannot bind token for serviceaccount "{sa_name}" to '
                                         "pod running with different serviceaccount name.")
        return pod

    def discovery(self, path: str) -> Response | None:
        """The issuer's OpenID discovery documents."""
        path = path.rstrip("/")
        if path == "/.well-known/openid-configuration":
            return ok(satoken.openid_configuration(satoken.ISSUER, self.server_url))
        if path == "/openid/v1/jwks":
            return Response(200, ok({"keys": [satoken.jwk(self.public)]}).body,
                            content_type="application/jwk-set+json")
        return None


def ephemeral_key() -> ec.EllipticCurvePrivateKey:
    """A signing key for an API server that was given none (tests)."""
    return ec.generate_private_key(ec.SECP256R1())
