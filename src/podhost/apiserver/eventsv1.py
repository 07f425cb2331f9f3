"""events.k8s.io/v1 Events: the stored core v1 Events, converted as kube-apiserver's
conversion does (pkg/apis/events/v1/conversion.go): `note` is `message`, `regarding` is
`involvedObject`, `reportingController` is `reportingComponent`, `deprecatedSource`,
`deprecatedFirstTimestamp`, `deprecatedLastTimestamp` and `deprecatedCount` are `source`,
`firstTimestamp`, `lastTimestamp` and `count`; `related`, `reportingInstance`, `action`,
`reason`, `type`, `eventTime` and `series` keep their names. Creates get the strict
events.k8s.io validation (pkg/apis/core/validation/events.go). Served: get, list, watch,
create, update, patch (JSON, merge and strategic merge patches of the v1 form, written back as
an update; not apply), delete and deletecollection; not protobuf bodies (415).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.meta import dns1123_subdomain_errors
from podhost.api.objectmeta import qualified_name_errors
from podhost.api.types import Obj
from podhost.apiserver import protobuf
from podhost.apiserver.common import decode_body, dumps, not_allowed
from podhost.apiserver.http import Request, Response, StreamResponse, Upgrade
from podhost.apiserver.writes import patched

GROUP = "events.k8s.io"
V1 = f"{GROUP}/v1"
PATH = re.compile(r"^/apis/events\.k8s\.io/v1/(?P<rest>(?:namespaces/[^/]+/)?"
                  r"events(?:/[^/]+)?)/?$")
Dispatch = Callable[[Request], Awaitable[Response | StreamResponse | Upgrade]]

# events.k8s.io/v1 field -> core/v1 field, where the names differ
RENAMED = {"note": "message", "regarding": "involvedObject",
           "reportingController": "reportingComponent", "deprecatedSource": "source",
           "deprecatedFirstTimestamp": "firstTimestamp",
           "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count"}
KEPT = ("related", "reportingInstance", "action", "reason", "type", "eventTime", "series")
PATCHES = ("application/json-patch+json", "application/merge-patch+json",
           "application/strategic-merge-patch+json")
LIMITS = {"reportingInstance": 128, "action": 128, "reason": 128}
NOTE_LIMIT = 1024


def to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    core: Obj = {"kind": "Event", "apiVersion": "v1", "metadata": event.get("metadata") or {}}
    for new, old in RENAMED.items():
        if new in event:
            core[old] = event[new]
    core.update({k: event[k] for k in KEPT if k in event})
    return core


def to_v1(core: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    event: Obj = {"kind": "Event", "apiVersion": V1, "metadata": core.get("metadata") or {}}
    for new, old in RENAMED.items():
        if core.get(old) not in (None, "", 0, {}):
            event[new] = core[old]
    event.update({k: core[k] for k in KEPT if k in core})
    return event


def validate_create(core: Obj) -> list[FieldError]:
    """The strict events.k8s.io creation rules, on the converted object (the field paths are
    the internal ones, as upstream reports them): the legacy rules, then the strict ones."""
    namespace = (core.get("metadata") or {}).get("namespace") or ""
    errs = _legacy_errors(core, namespace)
    errs += [errors.invalid("namespace", namespace, m)
             for m in dns1123_subdomain_errors(namespace)]
    errs += _series_errors(core.get("series"))
    if not core.get("eventTime"):
        errs.append(errors.required("eventTime"))
    if core.get("type") not in ("Normal", "Warning"):
        errs.append(errors.invalid("type", "", f"has invalid value: {core.get('type', '')}"))
    for name in ("firstTimestamp", "lastTimestamp", "count", "source"):
        if core.get(name) not in (None, "", 0, {}):
            errs.append(errors.invalid(name, "", "needs to be unset"))
    return errs


def _legacy_errors(core: Obj, namespace: str) -> list[FieldError]:
    involved = (core.get("involvedObject") or {}).get("namespace") or ""
    mismatch = errors.invalid("involvedObject.namespace", involved,
                              "does not match event.namespace")
    if not core.get("eventTime"):
        fine = namespace in ("", "default") if not involved else namespace == involved
        return [] if fine else [mismatch]
    errs = [] if involved or namespace in ("default", "kube-system") else [mismatch]
    controller = core.get("reportingComponent") or ""
    if not controller:
        errs.append(errors.required("reportingController"))
    errs += [errors.invalid("reportingController", controller, m)
             for m in qualified_name_errors(controller)]
    for name, limit in LIMITS.items():
        value = core.get(name) or ""
        if not value:
            errs.append(errors.required(name))
        elif len(value) > limit:
            errs.append(errors.invalid(name, "", f"can have at most {limit} characters"))
    if len(core.get("message") or "") > NOTE_LIMIT:
        errs.append(errors.invalid("message", "", f"can have at most {NOTE_LIMIT} characters"))
    return errs


def _series_errors(series: Any) -> list[FieldError]:
    if not isinstance(series, dict):
        return []
    errs = []
    if not isinstance(series.get("count"), int) or series["count"] < 2:
        errs.append(errors.invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(errors.required("series.lastObservedTime"))
    return errs


def _convert(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    if obj.get("kind") == "Event":
        return to_v1(obj)
    if obj.get("kind") == "EventList":
        return {**obj, "apiVersion": V1, "items": [to_v1(i) for i in obj.get("items") or []]}
    return obj


def _answer(response: Response) -> Response:
    if not response.body.startswith(b"{"):
        return response
    return dataclasses.replace(response, body=dumps(_convert(json.loads(response.body))))


def _watch_line(line: bytes) -> bytes:
    event = json.loads(line)
    obj = event.get("object")
    if event.get("type") == "BOOKMARK" and isinstance(obj, dict):
        event["object"] = {**obj, "apiVersion": V1}
    else:
        event["object"] = _convert(obj)
    return dumps(event) + b"\n"


async def _watch(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield b"".join(_watch_line(line) for line in chunk.splitlines() if line.strip())


def _core_body(request: Request, namespace: str, old_name: str | None) -> bytes:
    if request.headers.get("content-type", "").startswith(protobuf.CONTENT_TYPE):
        raise errors.UnsupportedMediaError(
            f"the body of {V1} Events is served as JSON or YAML, not protobuf")
    decoded = decode_body(request, "Event")
    if not isinstance(decoded, dict):
        raise errors.BadRequestError("the body must be an Event object")
    core = to_core(decoded)
    if namespace and not core["metadata"].get("namespace"):
        core["metadata"] = {**core["metadata"], "namespace": namespace}
    if request.method == "POST" or old_name is None:
        problems = validate_create(core)
        if problems:
            name = (core.get("metadata") or {}).get("name", "")
            raise errors.InvalidError(f"Event.{GROUP}", name, problems)
    return dumps(core)


def _json_accept(accept: str) -> str:
    """The client's media types without protobuf: the answer is converted as JSON."""
    kept = [m for m in accept.split(",") if m.strip() and "protobuf" not in m]
    return ",".join(kept) or "application/json"


async def _patch(request: Request, dispatch: Dispatch, rest: str) -> Response:
    """The patch applied to the v1 form of the stored Event, written back as an update."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in PATCHES:
        raise errors.UnsupportedMediaError(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(PATCHES))
    headers = {**request.headers, "accept": "application/json"}
    read = dataclasses.replace(request, method="GET", path=f"/api/v1/{rest}", body=b"",
                               headers=headers, query={})
    current = await dispatch(read)
    if not isinstance(current, Response):
        raise not_allowed()
    if current.status != 200:
        return _answer(current)
    new = patched(ctype, to_v1(json.loads(current.body)), decode_body(request, "Event"))
    write = dataclasses.replace(request, method="PUT", path=f"/api/v1/{rest}",
                                body=dumps(to_core(new)),
                                headers={**headers, "content-type": "application/json"})
    response = await dispatch(write)
    if not isinstance(response, Response):
        raise not_allowed()
    return _answer(response)


async def handle(request: Request, dispatch: Dispatch) -> Response | StreamResponse | None:
    """The events.k8s.io/v1 request served by the core events; None when not one."""
    m = PATH.match(request.path)
    if m is None:
        return None
    if request.method == "PATCH":
        return await _patch(request, dispatch, m.group("rest"))
    body, headers = request.body, dict(request.headers)
    headers["accept"] = _json_accept(headers.get("accept", ""))
    if request.method in ("POST", "PUT"):
        name = m.group("rest").split("/")[-1] if request.method == "PUT" else None
        namespace = m.group("rest").split("/")[1] if m.group("rest").startswith(
            "namespaces/") else ""
        body = _core_body(request, namespace, name)
        headers["content-type"] = "application/json"
    core = dataclasses.replace(request, path=f"/api/v1/{m.group('rest')}", body=body,
                               headers=headers)
    response = await dispatch(core)
    if isinstance(response, StreamResponse):
        return dataclasses.replace(response, chunks=_watch(response.chunks))
    if not isinstance(response, Response):
        raise not_allowed()
    return _answer(response)
