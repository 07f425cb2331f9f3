"""What the verb handlers share: the resource table, JSON answers, body decoding and the query
parameters every verb reads (selectors, dryRun, fieldManager, integers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from podhost import yamljson
from podhost.api import errors, managedfields, registry, selectors
from podhost.api.types import Obj
from podhost.apiserver import limits, protobuf
from podhost.apiserver.http import Request, Response
from podhost.store.sqlite import Store

NAMESPACED = registry.NamespacedView()  # resource -> namespaced, for every served resource


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def ok(obj: Any, status: int = 200, warnings: list[str] | None = None) -> Response:
    """A JSON answer ending in a newline, as the API server's json.Encoder writes it."""
    headers = [("Warning", "299 - " + json.dumps(w)) for w in warnings or []]
    return Response(status, dumps(obj) + b"\n", headers=headers)


def kind_of(resource: str) -> str:
    return registry.kind_of(resource)


def not_allowed() -> errors.MethodNotAllowedError:
    return errors.MethodNotAllowedError("the server does not allow this method on the "
                                        "requested resource")


def check_namespace(store: Store, ns: str) -> Obj:
    """The Namespace `ns`; 404 naming the namespace when it does not exist."""
    try:
        return store.get("namespaces", "", ns)
    except errors.NotFoundError:
        raise errors.NotFoundError(f'namespaces "{ns}" not found', kind="namespaces",
                                   name=ns) from None


def wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def decode_body(request: Request, kind: str) -> Any:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype == protobuf.CONTENT_TYPE:
        return protobuf.decode(request.body, kind)
    if (deep := limits.too_deep(request.body)) is not None and not ctype.endswith("yaml"):
        raise errors.BadRequestError(
            f'{kind} in version "v1" cannot be handled as a {kind}: {deep}')
    try:
        if ctype.endswith("yaml"):
            return yamljson.load(request.body.decode("utf-8"))
        return json.loads(request.body or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise errors.BadRequestError(
            f'{kind} in version "v1" cannot be handled as a {kind}: {e}') from None


def field_manager(request: Request) -> str:
    return managedfields.manager_name(request.arg("fieldManager"),
                                      request.headers.get("user-agent"))


def selector(request: Request, resource: str) -> Callable[[Obj], bool]:
    return selectors.matcher(request.arg("labelSelector"), request.arg("fieldSelector"),
                             _field_selectors(resource))


def _field_selectors(resource: str) -> frozenset[str] | None:
    served = registry.get(resource)
    return served.field_selectors if served is not None else None


def api_version_of(resource: str) -> str:
    return registry.api_version_of(resource)


def selects_all(request: Request) -> bool:
    """No label or field selector: every stored object is in the list."""
    return selectors.selects_all(request.arg("labelSelector"), request.arg("fieldSelector"))


def int_arg(request: Request, key: str) -> int | None:
    """An integer query parameter; anything else is a 400 as the parameter decoder says."""
    value = request.arg(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequestError(f'{key}: Invalid value: "{value}": strconv.ParseInt: '
                                     f'parsing "{value}": invalid syntax') from None


def dry_run(request: Request, options: Obj | None = None) -> bool:
    """dryRun=All (query or DeleteOptions); other values are refused."""
    values = request.query.get("dryRun", []) + list((options or {}).get("dryRun") or [])
    for v in values:
        if v != "All":
            raise errors.InvalidError("DryRun", "", [errors.not_supported("dryRun", v, ["All"])])
    return bool(values)
