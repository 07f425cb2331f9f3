"""The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets and StatefulSets:
GET, PUT and PATCH (`kubectl scale` sends a merge patch of `spec.replicas`)."""

from __future__ import annotations

import json

from podhost.api import errors, strategy, workloads
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, dry_run, not_allowed, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.writes import PATCH_TYPES, conflict, patched
from podhost.store.sqlite import Store


def handle(store: Store, request: Request, resource: str, ns: str, name: str) -> Response:
    current = store.get(resource, ns, name)
    custom = custom_resources.get(resource)
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
    return _write(store, request, resource, current, body)


def _write(store: Store, request: Request, resource: str, current: Obj, body: object) -> Response:
    expected = (body.get("metadata") or {}).get("resourceVersion") \
        if isinstance(body, dict) else None
    name = current["metadata"]["name"]
    if expected and str(expected) != current["metadata"].get("resourceVersion"):
        raise conflict(resource, name)
    custom = custom_resources.get(resource)
    if custom is not None:
        new = custom.apply_scale(current, body)
        custom.prepare_for_update(new, current, False)
        custom.check(new, current)
        scale_of = custom.scale_of
    else:
        new = workloads.apply_scale(current, body)
        new = strategy.prepare_for_update(resource, new, current)
        scale_of = workloads.scale_of
    if dry_run(request):
        return ok(scale_of(new))
    updated = store.update(resource, json.loads(json.dumps(new)), expected_rv=expected)
    return ok(scale_of(updated))
