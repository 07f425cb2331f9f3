"""The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets and StatefulSets:
GET, PUT and PATCH (`kubectl scale` sends a merge patch of `spec.replicas`)."""

from __future__ import annotations

import json

from podhost.api import errors, workloads
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, dry_run, field_manager, not_allowed, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.writes import PATCH_TYPES, conflict, patched
from podhost.registry.generic import Registry


def handle(registry: Registry, request: Request, resource: str, ns: str, name: str
           ) -> Response:
    current = registry.store.get(resource, ns, name)
    custom = custom_resources.get(resource)  # a CRD's scale subresource, from its paths
    scale_of = custom.scale_of if custom is not None else workloads.scale_of
    if request.method == "GET":
        return ok(scale_of(current))
    if request.method == "PUT":
        body = decode_body(request, "Scale")
    elif request.method == "PATCH":
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.UnsupportedMediaError("the body of the request was in an unknown "
                                               "format - accepted media types include: "
                                               + ", ".join(sorted(PATCH_TYPES)))
        patch = decode_body(request, "Scale")
        if ctype == "application/apply-patch+yaml":
            ctype = "application/merge-patch+json"
        body = patched(ctype, scale_of(current), patch)
    else:
        raise not_allowed()
    return _write(registry, request, resource, current, body)


def _write(registry: Registry, request: Request, resource: str, current: Obj,
           body: object) -> Response:
    expected = (body.get("metadata") or {}).get("resourceVersion") \
        if isinstance(body, dict) else None
    name = current["metadata"]["name"]
    if expected and str(expected) != current["metadata"].get("resourceVersion"):
        raise conflict(resource, name)
    custom = custom_resources.get(resource)
    scale_of = custom.scale_of if custom is not None else workloads.scale_of
    scaled = custom.apply_scale(current, body) if custom is not None else \
        workloads.apply_scale(current, body)
    new = json.loads(json.dumps(scaled))
    updated = registry.update(resource, new, ctx=registry.context(request.user, dry_run(request)),
                              manager=field_manager(request), expected_rv=expected)
    return ok(scale_of(updated))
