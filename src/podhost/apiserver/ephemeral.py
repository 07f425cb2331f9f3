"""The `pods/ephemeralcontainers` subresource: GET, PUT and PATCH (strategic merge, merge, JSON
patch), changing `spec.ephemeralContainers` and nothing else (kubectl debug sends a strategic
merge patch of it)."""

from __future__ import annotations

import json

from podhost.api import ephemeral, errors, managedfields, meta, validation
from podhost.api.defaults import default_container
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, dry_run, field_manager, not_allowed, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.writes import PATCH_TYPES, conflict, patched
from podhost.registry import podsecurity
from podhost.registry.generic import set_managed_fields
from podhost.store.sqlite import Store

PATCHES = sorted(PATCH_TYPES - {"application/apply-patch+yaml"})


def handle(store: Store, request: Request, ns: str, name: str,
           node_name: str | None = None) -> Response:
    current = store.get("pods", ns, name)
    if request.method == "GET":
        return ok(current)
    if request.method == "PUT":
        body = decode_body(request, "Pod")
        if not isinstance(body, dict):
            raise errors.BadRequestError('Pod in version "v1" cannot be handled as a Pod: the '
                                         "body must be an object")
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise errors.BadRequestError("the name of the object does not match the name on "
                                         "the URL")
    elif request.method == "PATCH":
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCHES:
            raise errors.UnsupportedMediaError("the body of the request was in an unknown "
                                               "format - accepted media types include: "
                                               + ", ".join(PATCHES))
        patch = decode_body(request, "Pod")
        body = patched(ctype, current, patch)
    else:
        raise not_allowed()
    validation.check_decodable("pods", body)
    return _write(store, request, current, body, node_name)


def _write(store: Store, request: Request, current: Obj, body: Obj,
           node_name: str | None) -> Response:
    name = current["metadata"]["name"]
    expected = (body.get("metadata") or {}).get("resourceVersion")
    if expected and str(expected) != current["metadata"].get("resourceVersion"):
        raise conflict("pods", name)
    new = ephemeral.prepare_update(body, current)
    new["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    for c in ephemeral.ephemeral_containers(new):
        if isinstance(c, dict):
            default_container(c)
    validation.validate_ephemeral_update(new, current, node_name)
    podsecurity.admit(store, request.user, request.warnings, "pods", new, current,
                      "ephemeralcontainers")
    set_managed_fields(new, managedfields.updated("pods", current, new, field_manager(request),
                                                  meta.rfc3339(), "ephemeralcontainers"))
    if dry_run(request):
        return ok(new)
    return ok(store.update("pods", json.loads(json.dumps(new)), expected_rv=expected))
