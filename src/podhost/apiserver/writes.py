"""The write verbs: create, update (and the status subresource), patch and server-side apply."""

from __future__ import annotations

import contextlib
from typing import Any

from podhost.api import (
    errors,
    managedfields,
    meta,
    registry,
    strategy,
    validation,
    workloadcheck,
)
from podhost.api import patch as patches
from podhost.api.types import Obj
from podhost.apiserver import ingress, objects, services, storage
from podhost.apiserver.common import (
    NAMESPACED,
    api_version_of,
    check_namespace,
    decode_body,
    dry_run,
    field_manager,
    kind_of,
    ok,
)
from podhost.apiserver.http import Request, Response
from podhost.store.sqlite import Store

PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


def set_managed_fields(obj: Obj, entries: list[Obj]) -> Obj:
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)
    return obj


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


def check_apply_config(kind: str, body: Any, api_version: str = "v1") -> Obj:
    """The applied configuration must be an object of this kind, without managedFields."""
    if not isinstance(body, dict):
        raise errors.BadRequestError("the apply patch must be an object")
    group, _, version = str(body.get("apiVersion") or "").rpartition("/")
    if (body.get("apiVersion"), body.get("kind")) != (api_version, kind):
        raise errors.BadRequestError(f"invalid object type: {group}/{version}, "
                                     f"Kind={body.get('kind') or ''}")
    if not isinstance(body.get("metadata") or {}, dict):
        raise errors.BadRequestError("metadata must be an object")
    if (body.get("metadata") or {}).get("managedFields") is not None:
        raise errors.BadRequestError("metadata.managedFields must be nil")
    return body


def conflict(resource: str, name: str) -> errors.ConflictError:
    return errors.ConflictError(
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again", kind=resource,
        name=name)


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


def seed_namespace(store: Store, ns: str) -> None:
    """What every namespace starts with: its default ServiceAccount."""
    with contextlib.suppress(errors.AlreadyExistsError):
        store.create("serviceaccounts", objects.default_service_account(ns))


class Writes:
    def __init__(self, store: Store, node_name: str | None = None) -> None:
        self.store = store
        self.node_name = node_name  # Pods bound to another node are refused
        self.admission: Any = None  # admission.Admission (ServiceAccounts, RBAC), set by app.py

    def create(self, request: Request, resource: str, ns: str | None) -> Response:
        obj = self._decode_object(request, resource)
        warnings = validation.unknown_fields(resource, obj, request.arg("fieldValidation"))
        obj = strategy.prepare_for_create(resource, obj, ns)
        self._prepare(resource, obj)
        # managed fields before mutating admission, as the API server's create handler does:
        # what an admission plugin adds (the ServiceAccount token volume) belongs to no manager
        managed = managedfields.updated(resource, None, obj, field_manager(request),
                                        meta.rfc3339())
        self._admit(request, resource, obj, None)
        self._check_writable_namespace(resource, obj, ns)
        set_managed_fields(obj, managed)
        return self._store_create(request, resource, obj, warnings)

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
        new = patched(ctype, current, body)
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
        old = self.store.get(resource, ns, name)
        if expected_rv and str(expected_rv) != old["metadata"].get("resourceVersion"):
            raise conflict(resource, name)
        if not status_only and (errs := validation.metadata_update_errors(
                obj.get("metadata") or {}, old["metadata"])):
            raise errors.InvalidError(kind_of(resource), name, errs)
        new = strategy.prepare_for_update(resource, obj, old, status_only=status_only)
        self._prepare(resource, new)
        self._validate(resource, new, old)
        if self.admission is not None:
            self.admission.admit(request, resource, new, old)
        if applied is None:
            applied = managedfields.updated(resource, old, new, field_manager(request),
                                            meta.rfc3339(), "status" if status_only else "")
        set_managed_fields(new, applied)
        if dry_run(request):
            return ok(new, 200, warnings)
        updated = self.store.update(resource, new, expected_rv=expected_rv)
        if resource != "namespaces" and strategy.finalized(updated):  # last finalizer gone
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete(resource, ns, name)
        return ok(updated, 200, warnings)

    def _apply(self, request: Request, resource: str, ns: str, name: str, body: Any,
               current: Obj | None, status_only: bool) -> Response:
        """Server-side apply: merge, take ownership (409 on conflicts unless force), write."""
        config = check_apply_config(kind_of(resource), body, api_version_of(resource))
        config.setdefault("metadata", {})["name"] = name
        if NAMESPACED[resource]:
            config["metadata"].setdefault("namespace", ns)
        validation.check_decodable(resource, config)
        warnings = validation.unknown_fields(resource, config, request.arg("fieldValidation"))
        merged, managed = managedfields.apply(
            resource, current, config, str(request.arg("fieldManager")), request.flag("force"),
            meta.rfc3339(), "status" if status_only else "")
        if current is None:
            return self._apply_create(request, resource, ns, merged, managed, warnings)
        validation.check_decodable(resource, merged)
        expected = config["metadata"].get("resourceVersion")
        return self._replace(request, resource, ns, name, merged, status_only, expected,
                             managed, warnings)

    def _apply_create(self, request: Request, resource: str, ns: str, obj: Obj,
                      managed: list[Obj], warnings: list[str]) -> Response:
        target_ns = ns if NAMESPACED[resource] else None
        obj = strategy.prepare_for_create(resource, obj, target_ns)
        self._prepare(resource, obj)
        self._admit(request, resource, obj, None)
        self._check_writable_namespace(resource, obj, target_ns)
        set_managed_fields(obj, managed)
        return self._store_create(request, resource, obj, warnings)

    def _store_create(self, request: Request, resource: str, obj: Obj,
                      warnings: list[str]) -> Response:
        if dry_run(request):
            return ok(obj, 201, warnings)
        created = self.store.create(resource, obj)
        if resource == "namespaces":
            seed_namespace(self.store, created["metadata"]["name"])
        return ok(created, 201, warnings)

    def _decode_object(self, request: Request, resource: str) -> Obj:
        kind = kind_of(resource)
        obj = decode_body(request, kind)
        if not isinstance(obj, dict):
            raise errors.BadRequestError(f'{kind} in version "v1" cannot be handled as a {kind}: '
                                         "the body must be an object")
        api_version = api_version_of(resource)
        if obj.get("kind") not in (None, kind) or obj.get("apiVersion") not in (None, api_version):
            raise errors.BadRequestError(
                f'{kind} in version "v1" cannot be handled as a {kind}: the kind or apiVersion '
                f'of the object ("{obj.get("apiVersion")}, {obj.get("kind")}") does not match')
        obj["kind"], obj["apiVersion"] = kind, api_version
        validation.check_decodable(resource, obj)
        return obj

    @staticmethod
    def _prepare(resource: str, obj: Obj) -> Obj:
        """Write-time rules shared by create, update and patch, before validation."""
        if resource == "secrets":
            objects.prepare_secret(obj)
        return obj

    def _admit(self, request: Request, resource: str, obj: Obj, old: Obj | None) -> None:
        """Mutating admission, validation, validating admission of a new object."""
        if self.admission is not None:
            self.admission.mutate(request, resource, obj)
        self._validate(resource, obj, old)
        if self.admission is not None:
            self.admission.admit(request, resource, obj, old)

    def _validate(self, resource: str, obj: Obj, old: Obj | None = None) -> None:
        if resource == "pods":
            if old is None:
                validation.validate(resource, obj, self.node_name)
            else:
                validation.validate_update(resource, obj, old, self.node_name)
        elif resource == "services":
            services.admit(self.store, obj, old)
        elif resource == "endpointslices":
            objects.validate(resource, obj)
            services.validate_slice(obj)
        elif resource in registry.WORKLOADS:
            workloadcheck.validate(resource, obj, old)
        elif resource in registry.STORAGE_RESOURCES:
            storage.admit(self.store, resource, obj, old)
        elif resource in registry.INGRESS_RESOURCES:
            ingress.admit(self.store, resource, obj, old)
        elif resource in registry.RBAC_RESOURCES:
            pass  # admission.validate, with the escalation checks
        else:
            objects.validate(resource, obj)

    def _check_writable_namespace(self, resource: str, obj: Obj, ns: str | None) -> None:
        if ns is None:
            return
        if strategy.namespace_terminating(check_namespace(self.store, ns)):
            raise objects.terminating_error(resource, obj["metadata"].get("name", ""), ns)
