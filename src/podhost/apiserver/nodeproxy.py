"""`/api/v1/nodes/NODE/proxy/<path>`: the kubelet's read-only endpoints through the API server's
node proxy, as kube-apiserver forwards them to a kubelet: `metrics`, `metrics/cadvisor`,
`metrics/resource`, `metrics/probes`, `stats/summary`, `healthz`, `pods` (GET), and podhost's
`podhost/pulls` (the image pulls under way, for the dashboard).

Authorization: the API server's own check is `get nodes/proxy` (RequestInfo of the path). podhost
has no separate kubelet port, so a client holding only what a kubelet asks for on its own port
(`nodes/metrics` for `metrics/*`, `nodes/stats` for `stats/*`, as kubelet's auth.go maps them)
is let through too: `kubelet_attributes` names that check.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from podhost.api import errors
from podhost.api.nodeapi import NodeBackend
from podhost.api.rbac import Attributes, User
from podhost.apiserver.http import Request, Response

PATH = re.compile(r"^/api/v1/nodes/(?P<node>[^/]+)/proxy/(?P<path>"
                  r"metrics(?:/cadvisor|/resource|/probes)?|stats/summary|healthz|pods|"
                  r"podhost/pulls)/?$")


def kubelet_attributes(request: Request, user: User) -> Attributes | None:
    """The kubelet's own authorization of a proxied path (nodes/metrics, nodes/stats), or None
    when the path has none besides nodes/proxy."""
    m = PATH.match(request.path)
    if m is None or request.method not in ("GET", "HEAD"):
        return None
    sub = {"metrics": "metrics", "stats": "stats"}.get(m.group("path").split("/")[0])
    if sub is None:
        return None
    return Attributes(user, "get", True, "", "nodes", sub, "", unquote(m.group("node")))


async def handle(node: NodeBackend, node_name: str, request: Request) -> Response | None:
    m = PATH.match(request.path)
    if m is None:
        return None
    if unquote(m.group("node")) != node_name:
        raise errors.NotFoundError.of("nodes", unquote(m.group("node")))
    if request.method not in ("GET", "HEAD"):
        raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                           "requested resource")
    found = await node.node_endpoint(m.group("path"))
    if found is None:
        raise errors.NotFoundError("the server could not find the requested resource")
    content_type, body = found
    return Response(200, body, content_type=content_type)
