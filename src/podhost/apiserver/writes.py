"""The write verbs: create, update (and the status subresource), patch and server-side apply.

The handlers decode the body, apply patches, compute server-side apply's managedFields and
handle fieldValidation; everything else (strategy, admission, validation, namespace lifecycle,
storage) is the registry's one write path (podhost.registry.generic).
"""

from __future__ import annotations

from typing import Any

from podhost.api import errors, managedfields, meta, validation
from podhost.api import patch as patches
from podhost.api import registry as table
from podhost.api.types import Obj
from podhost.apiserver import conversion
from podhost.apiserver.common import (
    NAMESPACED,
    api_version_of,
    decode_body,
    dry_run,
    field_manager,
    kind_of,
    ok,
)
from podhost.apiserver.http import Request, Response
from podhost.registry.generic import Registry, conflict
from podhost.registry.strategy import Context

PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
__all__ = ["PATCH_TYPES", "Writes", "conflict", "patched"]


def patch_options_invalid(error: errors.FieldError) -> errors.InvalidError:
    """ValidatePatchOptions failures: 422 on the PatchOptions kind."""
    invalid = errors.InvalidError("PatchOptions.meta.k8s.io", "", [error])
    invalid.kind = "PatchOptions"
    return invalid


def check_patch_options(request: Request, apply: bool) -> None:
    if apply and not request.arg("fieldManager"):
        raise patch_options_invalid(errors.required("fieldManager", "is required for apply patch"))
    if not apply and request.arg("force") is not None:
        raise patch_options_invalid(errors.forbidden("force",
                                                     "may not be specified for non-apply patch"))


def served_api_versions(resource: str) -> tuple[str, ...]:
    """Every apiVersion a resource is served at (a CRD's versions, conversion None)."""
    served = table.get(resource)
    return tuple(f"{served.group}/{v}" for v in served.versions) if served and served.group \
        else ()


def check_apply_config(kind: str, body: Any, api_version: str = "v1",
                       served_versions: tuple[str, ...] = ()) -> Obj:
    """The applied configuration must be an object of this kind, without managedFields."""
    if not isinstance(body, dict):
        raise errors.BadRequestError("the apply patch must be an object")
    group, _, version = str(body.get("apiVersion") or "").rpartition("/")
    if body.get("kind") != kind or body.get("apiVersion") not in (api_version,
                                                                  *served_versions):
        raise errors.BadRequestError(f"invalid object type: {group}/{version}, "
                                     f"Kind={body.get('kind') or ''}")
    if not isinstance(body.get("metadata") or {}, dict):
        raise errors.BadRequestError("metadata must be an object")
    if (body.get("metadata") or {}).get("managedFields") is not None:
        raise errors.BadRequestError("metadata.managedFields must be nil")
    return body


def patched(ctype: str, current: Obj | None, body: Any) -> Obj:
    """`current` with a JSON, merge or strategic merge patch applied."""
    if ctype == "application/json-patch+json":
        new = patches.json_patch(current, body)
    elif ctype == "application/merge-patch+json":
        new = patches.merge_patch(current, body)
    else:
        new = patches.strategic_merge(current, body)
    if not isinstance(new, dict):
        raise errors.BadRequestError("the patch did not produce an object")
    return new


class Writes:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store

    def context(self, request: Request) -> Context:
        ctx = self.registry.context(request.user, dry_run(request))
        ctx.warnings = request.warnings  # admission's (PodSecurity's): app.py sends them
        return ctx

    def create(self, request: Request, resource: str, ns: str | None) -> Response:
        obj = self._decode_object(request, resource)
        warnings = validation.unknown_fields(resource, obj, request.arg("fieldValidation"))
        created = self.registry.create(resource, obj, ns, ctx=self.context(request),
                                       manager=field_manager(request))
        return ok(created, 201, warnings)

    def update(self, request: Request, resource: str, ns: str, name: str,
               status_only: bool = False) -> Response:
        obj = self._decode_object(request, resource)
        if obj.get("metadata", {}).get("name") not in (None, name):
            raise errors.BadRequestError("the name of the object does not match the name on the "
                                         "URL")
        obj.setdefault("metadata", {})["name"] = name
        return self._replace(request, resource, ns, name, obj, status_only,
                             obj["metadata"].get("resourceVersion"))

    def patch(self, request: Request, resource: str, ns: str, name: str,
              status_only: bool = False) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.UnsupportedMediaError(f"the body of the request was in an unknown "
                                               f'format - accepted media types include: '
                                               f'{", ".join(sorted(PATCH_TYPES))}')
        apply = ctype == "application/apply-patch+yaml"
        check_patch_options(request, apply)
        body = decode_body(request, kind_of(resource))
        try:
            current: Obj | None = self.store.get(resource, ns, name)
        except errors.NotFoundError:
            if not apply:
                raise
            current = None
        if apply:
            return self._apply(request, resource, ns, name, body, current, status_only)
        new = patched(ctype, conversion.at_request_version(resource, current, request), body)
        new = conversion.to_storage(resource, new, request)  # CRD conversion strategy Webhook
        new.setdefault("metadata", {})["name"] = name
        validation.check_decodable(resource, new)
        expected = (body.get("metadata") or {}).get("resourceVersion") \
            if isinstance(body, dict) else None
        return self._replace(request, resource, ns, name, new, status_only, expected)

    def _replace(self, request: Request, resource: str, ns: str, name: str, obj: Obj,
                 status_only: bool, expected_rv: str | None,
                 applied: list[Obj] | None = None, warnings: list[str] | None = None
                 ) -> Response:
        """Write `obj` over the stored object; `applied`: managedFields an Apply computed."""
        warnings = (warnings or []) + validation.unknown_fields(resource, obj,
                                                                request.arg("fieldValidation"))
        if NAMESPACED[resource]:
            obj["metadata"]["namespace"] = ns
        else:
            obj["metadata"].pop("namespace", None)
        updated = self.registry.update(
            resource, obj, ctx=self.context(request), subresource="status" if status_only else "",
            manager=field_manager(request), managed=applied, expected_rv=expected_rv)
        return ok(updated, 200, warnings)

    def _apply(self, request: Request, resource: str, ns: str, name: str, body: Any,
               current: Obj | None, status_only: bool) -> Response:
        """Server-side apply: merge, take ownership (409 on conflicts unless force), write."""
        config = check_apply_config(kind_of(resource), body, api_version_of(resource),
                                    served_api_versions(resource))
        config = conversion.to_storage(resource, config, request)  # strategy Webhook
        config["apiVersion"] = api_version_of(resource)
        config.setdefault("metadata", {})["name"] = name
        if NAMESPACED[resource]:
            config["metadata"].setdefault("namespace", ns)
        validation.check_decodable(resource, config)
        warnings = validation.unknown_fields(resource, config, request.arg("fieldValidation"))
        merged, managed = managedfields.apply(
            resource, current, config, str(request.arg("fieldManager")), request.flag("force"),
            meta.rfc3339(), "status" if status_only else "")
        if current is None:
            target_ns = ns if NAMESPACED[resource] else None
            created = self.registry.create(resource, merged, target_ns,
                                           ctx=self.context(request), managed=managed)
            return ok(created, 201, warnings)
        validation.check_decodable(resource, merged)
        expected = config["metadata"].get("resourceVersion")
        return self._replace(request, resource, ns, name, merged, status_only, expected,
                             managed, warnings)

    def _decode_object(self, request: Request, resource: str) -> Obj:
        kind = kind_of(resource)
        obj = decode_body(request, kind)
        if not isinstance(obj, dict):
            raise errors.BadRequestError(f'{kind} in version "v1" cannot be handled as a {kind}: '
                                         "the body must be an object")
        api_version = api_version_of(resource)
        if obj.get("kind") not in (None, kind) or obj.get("apiVersion") not in (
                None, api_version, *served_api_versions(resource)):
            raise errors.BadRequestError(
                f'{kind} in version "v1" cannot be handled as a {kind}: the kind or apiVersion '
                f'of the object ("{obj.get("apiVersion")}, {obj.get("kind")}") does not match')
        if obj.get("metadata") is None:  # JSON null decodes to an empty ObjectMeta
            obj["metadata"] = {}
        obj = conversion.to_storage(resource, obj, request)  # CRD conversion strategy Webhook
        obj["kind"], obj["apiVersion"] = kind, api_version
        validation.check_decodable(resource, obj)
        return obj
