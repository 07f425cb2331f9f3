"""Serving CustomResourceDefinitions: the establishing, naming and cleanup controllers of
apiextensions-apiserver in one `sync()`, run at start (restoring what was served before a
restart) and after every write of a CRD.

An established CRD's resource is served like a built-in one: a `ResourceType` row in
api/registry.py (discovery, routing, RBAC, GC, watches, selectors), a CustomResourceStrategy
(validation, defaults, pruning, status, scale, printer columns), a definition for server-side
apply's field sets and an OpenAPI v3 component (kubectl explain, fieldValidation=Strict).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging

from podhost.api import errors, registry, schema
from podhost.api.apiextensions import conversion
from podhost.api.apiextensions import crd as crds
from podhost.api.apiextensions import strategy as custom
from podhost.api.types import Obj
from podhost.apiserver import conversion as converter
from podhost.apiserver import discovery
from podhost.apiserver.http import Response
from podhost.registry import strategies
from podhost.registry.apiextensions.customresources import CustomResourceStrategy
from podhost.registry.generic import Registry
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)
RESOURCE = "customresourcedefinitions"
OBJECT_META = "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class CustomResources:
    def __init__(self, store: Store, registry_: Registry | None = None) -> None:
        self.store = store
        self.registry = registry_ or Registry(store)
        self.served: dict[str, str] = {}  # plural -> the CRD's resourceVersion served
        self.terminating: set[str] = set()  # deleted CRDs whose objects are still going
        self.converter = converter.Converter(store)  # conversion strategy Webhook

    def concerns(self, resource: str) -> bool:
        """A write to CRDs, or to the objects of a CRD being deleted, moves its controllers."""
        return resource == RESOURCE or resource in self.terminating

    def sync(self) -> None:
        """Establish new CRDs, serve established ones, clean up deleted ones."""
        current = self.store.list(RESOURCE)[0]
        for crd in current:
            try:
                self._sync_one(crd)
            except errors.ApiError as e:  # another write won: the next sync sees it
                log.info("syncing CRD %s: %s", crd["metadata"]["name"], e)
        plurals = {c["spec"]["names"]["plural"] for c in current if crds.established(c) and (
            not c["metadata"].get("deletionTimestamp") or
            c["spec"]["names"]["plural"] in self.terminating)}
        for plural in list(self.served):
            if plural not in plurals:
                self._unserve(plural)

    def _sync_one(self, crd: Obj) -> None:
        plural = crd["spec"]["names"]["plural"]
        if crd["metadata"].get("deletionTimestamp"):
            self._cleanup(crd)
            return
        if not crds.established(crd):
            mine = self.served.get(plural) is not None
            message = "" if mine else crds.conflict(crd, registry.get(plural))
            crd["status"] = crds.established_status(crd, message)
            crd = self.store.update(RESOURCE, crd)
        if crds.established(crd) and self.served.get(plural) != \
                crd["metadata"]["resourceVersion"]:
            self._serve(crd)

    def _serve(self, crd: Obj) -> None:
        served = crds.resource_type(crd)
        resource = custom.CustomResource(crd)
        if conversion.webhook_strategy(crd):
            resource.converter = functools.partial(self.converter.convert, resource.crd)
        registry.register(served, replace=True)
        custom.put(served.name, resource)
        strategies.register(served.name, CustomResourceStrategy(resource))
        definition = schema.definitions()
        node = dict(resource.schema)
        node["properties"] = {**(node.get("properties") or {}),
                              "metadata": {"$ref": OBJECT_META},
                              "apiVersion": {"type": "string"}, "kind": {"type": "string"}}
        definition[served.definition] = node
        schema.CUSTOM_OPENAPI[served.definition] = resource.openapi()
        self.served[served.name] = crd["metadata"]["resourceVersion"]
        discovery.changed()

    def _delete_objects(self, plural: str) -> int:
        """Delete the objects of a deleted CRD; how many are still held by finalizers."""
        remaining = 0
        for obj in self.store.list(plural)[0]:
            m = obj["metadata"]
            with contextlib.suppress(errors.NotFoundError):
                if not m.get("deletionTimestamp"):
                    obj = self.registry.delete(plural, m.get("namespace") or "", m["name"],
                                               obj=obj)
                if obj["metadata"].get("deletionTimestamp") and \
                        obj["metadata"].get("finalizers"):
                    remaining += 1
        return remaining

    def _unserve(self, plural: str) -> None:
        served = registry.get(plural)
        self.served.pop(plural, None)
        custom.put(plural, None)
        strategies.forget(plural)
        if served is not None:
            schema.CUSTOM_OPENAPI.pop(served.definition, None)
            schema.definitions().pop(served.definition, None)
        registry.unregister(plural)
        discovery.changed()

    def _cleanup(self, crd: Obj) -> None:
        """The customresourcecleanup finalizer: delete every object (finalizers honoured: the
        CRD stays, Terminating, until the last one is gone), then let the CRD go."""
        plural = crd["spec"]["names"]["plural"]
        if plural in self.served:
            if self._delete_objects(plural):
                self.terminating.add(plural)
                if (resource := custom.get(plural)) is not None:
                    resource.terminating = True
                if not any(c.get("type") == "Terminating"
                           for c in crd["status"].get("conditions") or []):
                    crd["status"].setdefault("conditions", []).append(crds.condition(
                        "Terminating", "True", "InstanceDeletionInProgress",
                        "CustomResource deletion is in progress"))
                    self.store.update(RESOURCE, crd)
                return
            self.terminating.discard(plural)
            self._unserve(plural)
        finalizers = [f for f in crd["metadata"].get("finalizers") or []
                      if f != crds.CLEANUP_FINALIZER]
        crd["metadata"]["finalizers"] = finalizers
        if finalizers:
            self.store.update(RESOURCE, crd)
        else:
            with contextlib.suppress(errors.NotFoundError):
                self.store.delete(RESOURCE, "", crd["metadata"]["name"])


def convert_response(answer: Response, resource: str, version: str) -> Response:
    """A custom resource on the way out: defaults applied on read (a default added to the
    CRD after the object was stored) and, at a served version other than the storage one,
    that version's apiVersion (conversion `None`)."""
    served, strategy = registry.get(resource), custom.get(resource)
    if served is None or strategy is None or answer.status >= 300 or \
            answer.content_type != "application/json":
        return answer
    other = version != served.version
    if not other and not strategy.has_defaults:
        return answer
    body = json.loads(answer.body)
    objects = [obj for obj in [body, *(body.get("items") or [])]
               if isinstance(obj, dict) and obj.get("apiVersion") == served.api_version]
    for obj in objects:
        strategy.read(obj)
    if other and strategy.converter is not None:  # strategy Webhook: the list's items
        items = [o for o in objects if o is not body or "items" not in body]
        converted = strategy.converter(items, f"{served.group}/{version}", "items" in body)
        for obj, new in zip(items, converted, strict=True):
            obj.clear()
            obj.update(new)
    for obj in objects if other else []:
        obj["apiVersion"] = f"{served.group}/{version}"
    answer.body = json.dumps(body, separators=(",", ":")).encode()
    return answer
