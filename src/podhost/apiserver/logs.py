"""`pods/log`: the container's log from the node, whole or followed, as plain text."""

from __future__ import annotations

from podhost.api import errors
from podhost.api.nodeapi import LogOptions, NodeBackend
from podhost.apiserver.http import Request, StreamResponse
from podhost.store.sqlite import Store


def _number(request: Request, key: str) -> int | None:
    value = request.arg(key)
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        raise errors.BadRequestError(f'{key}: Invalid value: "{value}"')
    return int(value)


def log_options(request: Request) -> LogOptions:
    return LogOptions(container=request.arg("container"), follow=request.flag("follow"),
                      previous=request.flag("previous"), timestamps=request.flag("timestamps"),
                      tail_lines=_number(request, "tailLines"),
                      since_seconds=_number(request, "sinceSeconds"),
                      since_time=request.arg("sinceTime"),
                      limit_bytes=_number(request, "limitBytes"))


async def handle(store: Store, node: NodeBackend, request: Request, ns: str,
                 name: str) -> StreamResponse:
    store.get("pods", ns, name)
    chunks = await node.logs(ns, name, log_options(request))
    return StreamResponse(200, chunks, content_type="text/plain")
