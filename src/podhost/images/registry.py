"""The OCI distribution API client: manifests and blobs over HTTPS, token and basic auth.

The only network code in `podhost.images`. `RegistryClient` talks to one or more registries
with async httpx (HTTP/1.1, connection pooling, redirects to blob storage without leaking the
Authorization header to another origin). A 401 answer is retried once with credentials: the
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` flow (a token fetched from the realm,
with basic credentials when the auth files have some) or plain `Basic`. Blobs are downloaded
to `<dir>/<hex>.partial`, resumed with a Range request when a partial file exists, verified
and renamed to `<dir>/<hex>`: a blob file without the suffix is always complete and verified.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from podhost.images.auth import AuthConfig
from podhost.images.errors import DigestMismatchError, RegistryError
from podhost.images.oci import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    check_sha256,
    sha256_digest,
)
from podhost.images.registries import Endpoint

MANIFEST_ACCEPT = ", ".join([MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST,
                             MEDIA_DOCKER_MANIFEST])
MANIFEST_LIMIT = 4 << 20
CHUNK = 1 << 20
ATTEMPTS = 3
USER_AGENT = "podhost"
_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')

Progress = Callable[[int, int], None]  # (bytes done, total)
Body = Callable[[], "bytes | AsyncIterator[bytes]"]  # a request body, made anew for a retry


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """ 'Bearer realm="r",service="s"' -> ("bearer", {"realm": "r", "service": "s"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2].replace('\\"', '"') if m[2] is not None else m[3]
              for m in _PARAM_RE.finditer(rest)}
    return scheme.lower(), params


def error_text(response: httpx.Response) -> str:
    """The registry's reason: "manifest unknown: manifest unknown" from its errors JSON."""
    try:
        errors = json.loads(response.content).get("errors") or []
        parts = [f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}"
                 for e in errors if isinstance(e, dict)]
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        pass
    return f"{response.status_code} {response.reason_phrase}".strip()


class RegistryClient:
    """Async client for the distribution API; reuse one for many pulls (connection pooling)."""

    def __init__(self, auth: AuthConfig | None = None, timeout: float = 30.0) -> None:
        self.auth = auth or AuthConfig()
        self.timeout = httpx.Timeout(timeout, connect=5.0)
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._schemes: dict[str, str] = {}
        self._authorization: dict[tuple[str, str], str] = {}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- API -------------------------------------------------------------------------------

    async def get_manifest(self, ep: Endpoint, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index by tag or digest."""
        r = await self._request(ep, "GET", f"manifests/{reference}",
                                {"Accept": MANIFEST_ACCEPT})
        async with _closing(r):
            if r.status_code != 200:
                raise await _error(r, f"reading manifest {reference} in {ep}")
            data = await _read_limited(r, MANIFEST_LIMIT, f"manifest {reference}")
        media_type = r.headers.get("content-type", "").split(";")[0].strip()
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and reference != digest:
            raise DigestMismatchError(f"manifest {reference} from {ep}", reference, digest)
        if media_type not in INDEX_TYPES | MANIFEST_TYPES:
            media_type = ""  # decided from the document's shape by the caller
        return data, media_type, digest

    async def get_blob(self, ep: Endpoint, digest: str, limit: int = MANIFEST_LIMIT) -> bytes:
        """A small blob (an image config) in memory, verified."""
        check_sha256(digest, "blob")
        r = await self._request(ep, "GET", f"blobs/{digest}", {})
        async with _closing(r):
            if r.status_code != 200:
                raise await _error(r, f"reading blob {digest} in {ep}")
            data = await _read_limited(r, limit, f"blob {digest}")
        if sha256_digest(data) != digest:
            raise DigestMismatchError(f"blob from {ep}", digest, sha256_digest(data))
        return data

    async def download_blob(self, ep: Endpoint, digest: str, size: int, directory: Path,
                            progress: Progress | None = None) -> Path:
        """Download a blob to directory/<hex>, resuming a partial file; retried on I/O errors."""
        final = directory / check_sha256(digest, "blob").removeprefix("sha256:")
        if final.is_file():
            if progress:
                progress(size, size)
            return final
        for attempt in range(ATTEMPTS):
            try:
                return await self._download_once(ep, digest, size, final, progress)
            except (httpx.TransportError, httpx.StreamError) as e:
                if attempt == ATTEMPTS - 1:
                    raise RegistryError(f"reading blob {digest} in {ep}: {_reason(e)}") from None
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- uploads (push) --------------------------------------------------------------------

    async def blob_exists(self, ep: Endpoint, digest: str) -> bool:
        r = await self._request(ep, "HEAD", f"blobs/{digest}", {})
        await r.aclose()
        return r.status_code == 200

    async def upload_blob(self, ep: Endpoint, digest: str, body: Body, size: int) -> None:
        """A monolithic upload: POST blobs/uploads/, then PUT the content to its Location."""
        r = await self._request(ep, "POST", "blobs/uploads/", {"Content-Length": "0"})
        async with _closing(r):
            if r.status_code != 202 or not r.headers.get("location"):
                raise await _error(r, f"starting an upload of {digest} to {ep}")
        location = str(r.url.join(r.headers["location"]))
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        r = await self._request(ep, "PUT", location, {
            "Content-Type": "application/octet-stream", "Content-Length": str(size)}, body)
        async with _closing(r):
            if r.status_code != 201:
                raise await _error(r, f"uploading blob {digest} to {ep}")

    async def put_manifest(self, ep: Endpoint, reference: str, data: bytes,
                           media_type: str) -> str:
        """PUT a manifest under a tag (or digest); the digest the registry stored it under."""
        r = await self._request(ep, "PUT", f"manifests/{reference}",
                                {"Content-Type": media_type}, lambda: data)
        async with _closing(r):
            if r.status_code not in (200, 201):
                raise await _error(r, f"writing manifest {reference} to {ep}")
        return r.headers.get("docker-content-digest") or sha256_digest(data)

    # -- downloads -------------------------------------------------------------------------

    async def _download_once(self, ep: Endpoint, digest: str, size: int, final: Path,
                             progress: Progress | None) -> Path:
        partial = final.with_name(final.name + ".partial")
        hasher, have = await asyncio.to_thread(_hash_file, partial)
        headers = {"Range": f"bytes={have}-"} if have else {}
        r = await self._request(ep, "GET", f"blobs/{digest}", headers)
        async with _closing(r):
            if r.status_code == 416 and have:  # partial file is complete or bogus: start over
                partial.unlink(missing_ok=True)
                return await self._download_once(ep, digest, size, final, progress)
            if r.status_code not in (200, 206):
                raise await _error(r, f"reading blob {digest} in {ep}")
            if r.status_code == 200 and have:
                hasher, have = hashlib.sha256(), 0
            total = size if size >= 0 else have + int(r.headers.get("content-length", 0))
            out = await asyncio.to_thread(open, partial, "ab" if have else "wb")
            with out:
                async for chunk in r.aiter_bytes(CHUNK):
                    out.write(chunk)
                    hasher.update(chunk)
                    have += len(chunk)
                    if progress:
                        progress(have, total)
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            partial.unlink(missing_ok=True)
            raise DigestMismatchError(f"blob from {ep}", digest, actual)
        os.rename(partial, final)
        return final

    # -- requests, schemes and authentication ----------------------------------------------

    async def _request(self, ep: Endpoint, method: str, path: str,
                       headers: dict[str, str], body: Body | None = None) -> httpx.Response:
        """Send (streamed) with cached authorization; on 401, authenticate and retry once.

        `path` is below /v2/<repository>/, or an absolute URL (an upload's Location)."""
        r = await self._send(ep, method, path, headers, body)
        if r.status_code != 401:
            return r
        challenge = r.headers.get("www-authenticate", "")
        await r.aclose()
        self._authorization[(ep.host, ep.repository)] = await self._authenticate(ep, challenge)
        return await self._send(ep, method, path, headers, body)

    async def _send(self, ep: Endpoint, method: str, path: str, headers: dict[str, str],
                    body: Body | None = None) -> httpx.Response:
        headers = {"User-Agent": USER_AGENT, **headers}
        authorization = self._authorization.get((ep.host, ep.repository))
        if authorization:
            headers["Authorization"] = authorization
        client = self._client(ep.insecure)
        absolute = path.startswith(("http://", "https://"))
        for scheme in [path.split(":", 1)[0]] if absolute else self._schemes_for(ep):
            url = path if absolute else f"{scheme}://{ep.host}/v2/{ep.repository}/{path}"
            request = client.build_request(method, url, headers=headers,
                                           content=body() if body else None)
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as e:
                if scheme == "https" and ep.insecure:
                    continue  # an insecure registry may speak plain HTTP
                raise RegistryError(f"pinging container registry {ep.host}: {_reason(e)}") from None
            self._schemes[ep.host] = scheme
            return response
        raise RegistryError(f"pinging container registry {ep.host}: no usable scheme")

    def _schemes_for(self, ep: Endpoint) -> list[str]:
        known = self._schemes.get(ep.host)
        if known:
            return [known]
        return ["https", "http"] if ep.insecure else ["https"]

    def _client(self, insecure: bool) -> httpx.AsyncClient:
        client = self._clients.get(insecure)
        if client is None:
            client = httpx.AsyncClient(verify=not insecure, timeout=self.timeout,
                                       follow_redirects=True,
                                       limits=httpx.Limits(max_connections=32))
            self._clients[insecure] = client
        return client

    async def _authenticate(self, ep: Endpoint, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        creds = self.auth.lookup(ep.host, ep.repository)
        if scheme == "basic":
            if creds is None:
                raise RegistryError(f"reading from {ep}: unauthorized: authentication required "
                                    "(no credentials in the auth files)", 401)
            return basic_header(creds.username, creds.password)
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"reading from {ep}: unauthorized: unsupported challenge "
                                f"{challenge!r:.100}", 401)
        return f"Bearer {await self._token(ep, params, creds)}"

    async def _token(self, ep: Endpoint, params: dict[str, str], creds: object) -> str:
        query = {"scope": params.get("scope") or f"repository:{ep.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = httpx.BasicAuth(creds.username, creds.password) if creds else None  # type: ignore[attr-defined]
        try:
            r = await self._client(ep.insecure).get(params["realm"], params=query, auth=auth,
                                                    headers={"User-Agent": USER_AGENT})
        except httpx.HTTPError as e:
            raise RegistryError(f"getting a token from {params['realm']}: {_reason(e)}") from None
        if r.status_code != 200:
            raise await _error(r, f"getting a token from {params['realm']}")
        body = r.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise RegistryError(f"getting a token from {params['realm']}: no token in answer")
        return token


async def _error(r: httpx.Response, prefix: str) -> RegistryError:
    """A RegistryError with the registry's own reason, from an error response."""
    with contextlib.suppress(httpx.HTTPError):
        await r.aread()
    return RegistryError(f"{prefix}: {error_text(r)}", r.status_code)


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class _closing:
    """`async with _closing(response)`: close a streamed response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    async def __aenter__(self) -> httpx.Response:
        return self.response

    async def __aexit__(self, *exc: object) -> None:
        await self.response.aclose()


async def _read_limited(r: httpx.Response, limit: int, what: str) -> bytes:
    data = bytearray()
    async for chunk in r.aiter_bytes():
        data += chunk
        if len(data) > limit:
            raise RegistryError(f"{what}: larger than {limit} bytes")
    return bytes(data)


def _hash_file(path: Path) -> tuple[hashlib._Hash, int]:
    hasher, size = hashlib.sha256(), 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        pass
    return hasher, size


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.splitlines()[0]
