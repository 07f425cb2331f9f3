"""The `certificatesigningrequests/approval` subresource: GET, PUT and PATCH of a
CertificateSigningRequest whose conditions (Approved, Denied) are all that change —
`kubectl certificate approve|deny` PUTs it."""

from __future__ import annotations

from podhost.api import errors
from podhost.apiserver.common import decode_body, dry_run, field_manager, not_allowed, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.writes import PATCH_TYPES, patched
from podhost.registry.generic import Registry

KIND = "CertificateSigningRequest"


def handle(registry: Registry, request: Request, resource: str, name: str) -> Response:
    current = registry.store.get(resource, "", name)
    if request.method == "GET":
        return ok(current)
    if request.method == "PUT":
        body = decode_body(request, KIND)
    elif request.method == "PATCH":
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES - {"application/apply-patch+yaml"}:
            raise errors.UnsupportedMediaError("the body of the request was in an unknown "
                                               "format - accepted media types include: "
                                               + ", ".join(sorted(PATCH_TYPES)))
        body = patched(ctype, current, decode_body(request, KIND))
    else:
        raise not_allowed()
    if not isinstance(body, dict):
        raise errors.BadRequestError(f'{KIND} in version "v1" cannot be handled as a {KIND}: '
                                     "the body must be an object")
    if (body.get("metadata") or {}).get("name") not in (None, name):
        raise errors.BadRequestError("the name of the object does not match the name on the URL")
    body.setdefault("metadata", {})["name"] = name
    expected = body["metadata"].get("resourceVersion")
    updated = registry.update(resource, body, ctx=registry.context(request.user,
                                                                   dry_run(request)),
                              subresource="approval", manager=field_manager(request),
                              expected_rv=str(expected) if expected else None)
    return ok(updated)
