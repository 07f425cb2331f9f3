"""`pods/attach`: the running container's own stdio over the exec transports (WebSocket v5/v4,
SPDY/3.1) of exec.py.

The request is checked before the upgrade as for exec. The attach always ends with a Success
Status, as kubelet's does, whatever the container's exit code: `kubectl run -i` reads that code
from the Pod's status, and an error Status would make it fall back to printing the logs.
"""

from __future__ import annotations

from collections.abc import Awaitable

from podhost.api.nodeapi import ExecProcess, NodeBackend
from podhost.apiserver import exec as exec_
from podhost.apiserver.http import Request, Upgrade
from podhost.store.sqlite import Store

SUCCESS = exec_.exit_status(0, [])


async def handle(store: Store, node: NodeBackend, request: Request, ns: str,
                 name: str) -> Upgrade:
    container = exec_.check_target(store, ns, name, request.arg("container"), "attach to")
    tty = request.flag("tty")

    def start(stdin: bool) -> Awaitable[ExecProcess]:
        return node.attach(ns, name, container, stdin=stdin, tty=tty)

    return exec_.upgrade(request, start, lambda _code: SUCCESS)
