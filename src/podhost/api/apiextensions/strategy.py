"""`CustomResource`: everything particular to one custom resource, built from its CRD (the
storage version's schema, subresources, printer columns), as pure functions over wire dicts,
and the table of the custom resources served now. The registry's `CustomResourceStrategy`
(podhost/registry/apiextensions/customresources.py) asks it at each step of a write."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from podhost.api import errors
from podhost.api.apiextensions import crd as crds
from podhost.api.apiextensions import rules, structural
from podhost.api.columns import since
from podhost.api.errors import FieldError
from podhost.api.types import Obj

_SERVED: dict[str, CustomResource] = {}
_SEGMENT = re.compile(r"\.?([A-Za-z0-9_-]+)|\[(\*|\d+)\]"
                      r"|\[\?\(@\.([\w.-]+)==['\"]([^'\"]*)['\"]\)\]")


def get(resource: str) -> CustomResource | None:
    return _SERVED.get(resource)


def put(resource: str, custom: CustomResource | None) -> None:
    if custom is None:
        _SERVED.pop(resource, None)
    else:
        _SERVED[resource] = custom


def for_read(resource: str, obj: Obj, version: str) -> Obj:
    """A custom object as a read at `version` returns it: defaults applied, the version's
    apiVersion (conversion None); a copy when anything changes, else `obj` itself."""
    custom = _SERVED.get(resource)
    if custom is None:
        return obj
    api_version = f"{custom.group}/{version}" if version else obj.get("apiVersion")
    if not custom.has_defaults and obj.get("apiVersion") == api_version:
        return obj
    out = copy.deepcopy(obj)
    custom.read(out)
    if custom.converter is not None and out.get("apiVersion") != api_version:
        return custom.converter([out], str(api_version))[0]  # strategy Webhook
    out["apiVersion"] = api_version
    return out


def json_path(obj: Any, path: str) -> list[Any]:
    """The values a CRD column's simple JSONPath selects (`.a.b`, `[0]`, `[*]`,
    `[?(@.type=="Ready")]`)."""
    values = [obj]
    for m in _SEGMENT.finditer(path.strip().strip("{}")):
        key, index, fkey, fval = m.groups()
        out: list[Any] = []
        for v in values:
            if key is not None and isinstance(v, dict) and key in v:
                out.append(v[key])
            elif index == "*" and isinstance(v, list):
                out.extend(v)
            elif index is not None and index != "*" and isinstance(v, list) and \
                    int(index) < len(v):
                out.append(v[int(index)])
            elif fkey is not None and isinstance(v, list):
                out.extend(x for x in v if isinstance(x, dict) and str(x.get(fkey)) == fval)
        values = out
    return values


def _go(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


class CustomResource:
    """One served custom resource: validation, defaults, pruning, status, scale, table."""

    def __init__(self, crd: Obj) -> None:
        self.crd = copy.deepcopy(crd)
        self.version = crds.storage_version(crd)
        self.schema = crds.schema_of(crd, self.version)
        self.kind = crd["spec"]["names"]["kind"]
        self.group = crd["spec"]["group"]
        subs = self.version.get("subresources") or {}
        self.has_status = "status" in subs
        self.scale: Obj | None = subs.get("scale")
        self.columns = [c for c in self.version.get("additionalPrinterColumns") or []]
        self.has_defaults = '"default"' in json.dumps(self.schema)
        self.terminating = False  # the CRD was deleted; its objects are going
        # conversion strategy Webhook: (objects, desired apiVersion, listed=False) -> the
        # converted objects (apiserver/conversion.Converter.convert)
        self.converter: Callable[..., list[Obj]] | None = None

    def deprecation(self, version: str) -> str:
        """The Warning a request at a deprecated served version gets ("" when it is not)."""
        for v in self.crd["spec"]["versions"]:
            if v.get("name") == version and v.get("deprecated"):
                return str(v.get("deprecationWarning") or
                           f"{self.group}/{version} {self.kind} is deprecated")
        return ""

    def prune(self, obj: Obj) -> list[str]:
        return structural.prune(self.schema, obj)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status:
            obj.pop("status", None)
        obj["metadata"]["generation"] = 1
        structural.default(self.schema, obj)

    def prepare_for_update(self, new: Obj, old: Obj, status_only: bool) -> None:
        if self.has_status and not status_only:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        structural.default(self.schema, new)
        generation = old["metadata"].get("generation", 1)
        changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != \
            {k: v for k, v in old.items() if k not in ("metadata", "status")}
        new["metadata"]["generation"] = generation + 1 if changed and not status_only \
            else generation

    def read(self, obj: Obj) -> Obj:
        """Defaults apply on read too (a default added to the CRD after the object)."""
        return structural.default(self.schema, obj)  # type: ignore[no-any-return]

    def validate(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        """The schema's validation, then its CEL rules (ObjectMeta is the registry's)."""
        errs = structural.validate(self.schema, obj)
        if errs:
            return errs
        return rules.validate(self.schema, obj) if old is None else \
            rules.validate(self.schema, obj, old)

    # ---- scale -------------------------------------------------------------------------

    def scale_of(self, obj: Obj) -> Obj:
        assert self.scale is not None
        spec = json_path(obj, self.scale.get("specReplicasPath", ""))
        status = json_path(obj, self.scale.get("statusReplicasPath", ""))
        selector = json_path(obj, self.scale.get("labelSelectorPath") or "")
        m = obj["metadata"]
        scale: Obj = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {
            k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                              "creationTimestamp") if k in m},
            "spec": {"replicas": spec[0] if spec else 0},
            "status": {"replicas": status[0] if status else 0}}
        if selector:
            scale["status"]["selector"] = selector[0]
        return scale

    def apply_scale(self, obj: Obj, scale: Any) -> Obj:
        assert self.scale is not None
        replicas = ((scale or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.InvalidError("Scale", obj["metadata"]["name"], [
                errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
        new = copy.deepcopy(obj)
        node = new
        parts = self.scale["specReplicasPath"].lstrip(".").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = replicas
        return new

    # ---- table ---------------------------------------------------------------------------

    def column_definitions(self) -> list[tuple[str, str, str, int, str]]:
        cols = [("Name", "string", "name", 0, "Name must be unique within a namespace.")]
        cols += [(c["name"], c.get("type", "string"), c.get("format", ""),
                  int(c.get("priority", 0)), c.get("description", "")) for c in self.columns]
        if not any(c["jsonPath"] == ".metadata.creationTimestamp" for c in self.columns):
            cols.append(("Age", "date", "", 0, "CreationTimestamp is a timestamp ..."))
        return cols

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        out: list[Any] = [obj["metadata"]["name"]]
        for c in self.columns:
            out.append(self._cell(c, json_path(obj, c["jsonPath"]), now))
        if not any(c["jsonPath"] == ".metadata.creationTimestamp" for c in self.columns):
            out.append(since(obj["metadata"].get("creationTimestamp"), now))
        return out

    @staticmethod
    def _cell(column: Obj, values: list[Any], now: datetime) -> Any:
        """tableconvertor: the first result; strings printed as JSONPath prints them (lists and
        maps as JSON), other types as cellForJSONValue converts them."""
        if not values or values[0] is None:
            return None
        value, kind = values[0], column.get("type")
        if kind == "string":
            return value if isinstance(value, str) else \
                json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) \
                else _go(value)
        if kind == "date":
            return since(value, now) if isinstance(value, str) else None
        if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        return None

    def openapi(self) -> Obj:
        """The schema as an OpenAPI v3 component (metadata as ObjectMeta)."""
        node = json.loads(json.dumps(self.schema))
        props = node.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion defines the "
                               "versioned schema of this representation of an object."}
        props["kind"] = {"type": "string", "description": "Kind is a string value representing "
                         "the REST resource this object represents."}
        props["metadata"] = {"$ref": "#/components/schemas/"
                             "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
        node["x-kubernetes-group-version-kind"] = [
            {"group": self.group, "version": v["name"], "kind": self.kind}
            for v in self.crd["spec"]["versions"] if v.get("served")]
        return node  # type: ignore[no-any-return]
