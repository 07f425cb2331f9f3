"""`/api/v1/nodes/NODE/proxy/podhost/volumes/NS/POD/VOLUME[/PATH]`: a Pod's volumes read and
written by the node, as kubelet's own endpoints are reached through the API server's node proxy
(authenticated like every request; a client that may exec into Pods may use it).

    GET  ...?op=ls          {"kind": "VolumeListing", "type": the path's type, "entries":
                            [{name, type, size, mode, mtime[, target]}]}: a directory's
                            entries, or a file's own
    GET  ...                the file's bytes (application/octet-stream)
    PUT  ...[?offset=N]     write the body at offset N (0, the default, truncates)
    PUT  ...?type=directory make the directory (and its missing parents)
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from podhost.api import errors
from podhost.api.nodeapi import NodeBackend
from podhost.apiserver.http import Request, Response, StreamResponse
from podhost.store.sqlite import Store

PATH = re.compile(r"^/api/v1/nodes/(?P<node>[^/]+)/proxy/podhost/volumes/(?P<ns>[^/]+)/"
                  r"(?P<pod>[^/]+)/(?P<volume>[^/]+)(?P<path>/.*)?$")


def _int(request: Request, key: str, base: int = 10) -> int | None:
    value = request.arg(key)
    if value is None:
        return None
    try:
        return int(value, base)
    except ValueError:
        raise errors.BadRequestError(f'{key}: Invalid value: "{value}"') from None


async def handle(store: Store, node: NodeBackend, node_name: str, request: Request
                 ) -> Response | StreamResponse | None:
    m = PATH.match(request.path)
    if m is None:
        return None
    if unquote(m.group("node")) != node_name:
        raise errors.NotFoundError.of("nodes", unquote(m.group("node")))
    ns, pod, volume = (unquote(m.group(k)) for k in ("ns", "pod", "volume"))
    path = unquote(m.group("path") or "").lstrip("/")
    store.get("pods", ns, pod)
    if request.method == "GET":
        if request.arg("op") == "ls":
            listed = await node.volume_list(ns, pod, volume, path)
            body = {"kind": "VolumeListing", "apiVersion": "podhost.io/v1", **listed}
            return Response(200, json.dumps(body, separators=(",", ":")).encode())
        chunks = await node.volume_read(ns, pod, volume, path)
        return StreamResponse(200, chunks, content_type="application/octet-stream")
    if request.method == "PUT":
        offset = _int(request, "offset") or 0
        if offset < 0:
            raise errors.BadRequestError(f'offset: Invalid value: "{offset}"')
        await node.volume_write(ns, pod, volume, path, request.body, offset=offset,
                                directory=request.arg("type") == "directory",
                                mode=_int(request, "mode", 8))
        return Response(200, json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                         "status": "Success"}).encode())
    raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                       "requested resource")
