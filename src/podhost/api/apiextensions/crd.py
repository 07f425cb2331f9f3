"""The CustomResourceDefinition resource: validation (apiextensions/validation), defaults,
NamesAccepted/Established conditions, and the `ResourceType` of the resource it serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from podhost.api import errors, meta, registry
from podhost.api.apiextensions import conversion, rules
from podhost.api.errors import FieldError
from podhost.api.types import Obj

GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")


def prepare(crd: Obj) -> Obj:
    """SetDefaults_CustomResourceDefinition: names, conversion, version flags; the cleanup
    finalizer; a fresh status."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind") and not names.get("singular"):
        names["singular"] = str(names["kind"]).lower()
    if names.get("kind") and not names.get("listKind"):
        names["listKind"] = f"{names['kind']}List"
    spec.setdefault("conversion", {"strategy": "None"})
    finalizers = crd["metadata"].setdefault("finalizers", [])
    if CLEANUP_FINALIZER not in finalizers:
        finalizers.append(CLEANUP_FINALIZER)
    crd.setdefault("status", {"conditions": [], "acceptedNames": {"kind": "", "plural": ""},
                              "storedVersions": []})
    return crd


def storage_version(crd: Obj) -> Obj:
    return next(v for v in crd["spec"]["versions"] if v.get("storage"))


def schema_of(crd: Obj, version: Obj | None = None) -> Obj:
    v = version or storage_version(crd)
    return dict((v.get("schema") or {}).get("openAPIV3Schema") or {})


def validate(crd: Obj) -> list[FieldError]:
    """ValidateCustomResourceDefinition, for what podhost serves."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    errs = list(_names(crd, spec, names))
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        errs.append(errors.required("spec.scope", "") if not scope else
                    errors.not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    errs += list(_versions(spec.get("versions") or []))
    strategy = (spec.get("conversion") or {}).get("strategy")
    if strategy not in ("None", "Webhook"):
        errs.append(errors.not_supported("spec.conversion.strategy", strategy,
                                         ["None", "Webhook"]))
    return errs + conversion.validate(spec.get("conversion") or {})


def _names(crd: Obj, spec: Obj, names: Obj) -> Iterator[FieldError]:
    group, plural = spec.get("group") or "", names.get("plural") or ""
    name = (crd.get("metadata") or {}).get("name", "")
    if name != f"{plural}.{group}":
        yield errors.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
    if not group:
        yield errors.required("spec.group", "")
    elif "." not in group:
        yield errors.invalid("spec.group", group, "should be a domain with at least one dot")
    elif not _DNS_SUBDOMAIN.match(group):
        yield errors.invalid("spec.group", group, "a lowercase RFC 1123 subdomain must consist "
                             "of lower case alphanumeric characters, '-' or '.', and must start "
                             "and end with an alphanumeric character")
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        if not value:
            yield errors.required(f"spec.names.{key}", "")
        elif key in ("plural", "singular") and not _DNS_LABEL.match(value):
            yield errors.invalid(f"spec.names.{key}", value,
                                 "a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-', and must start and end "
                                 "with an alphanumeric character (e.g. 'my-name',  or "
                                 "'123-abc', regex used for validation is "
                                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    for i, short in enumerate(names.get("shortNames") or []):
        if not _DNS_LABEL.match(short):
            yield errors.invalid(f"spec.names.shortNames[{i}]", short,
                                 "a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-', and must start and end "
                                 "with an alphanumeric character")


def _versions(versions: list[Obj]) -> Iterator[FieldError]:
    if not versions:
        yield errors.invalid("spec.versions", [], "must have exactly one version marked as "
                             "storage version")
        return
    if sum(1 for v in versions if v.get("storage")) != 1:
        yield errors.invalid("spec.versions", _go_versions(versions),
                             "must have exactly one version marked as storage version")
    if not any(v.get("served") for v in versions):
        yield errors.invalid("spec.versions", _go_versions(versions),
                             "must have at least one version marked as served")
    seen: set[str] = set()
    for i, v in enumerate(versions):
        path, name = f"spec.versions[{i}]", v.get("name") or ""
        if not _VERSION.match(name) and not _DNS_LABEL.match(name):
            yield errors.invalid(f"{path}.name", name, "a DNS-1035 label must consist of lower "
                                 "case alphanumeric characters or '-'")
        if name in seen:
            yield errors.invalid("spec.versions", _go_versions(versions),
                                 "must contain unique version names")
        seen.add(name)
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            yield errors.required(f"{path}.schema.openAPIV3Schema", "schemas are required")
            continue
        spath = f"{path}.schema.openAPIV3Schema"
        yield from _structural(schema, spath, root=True)
        yield from rules.compile_errors(schema, spath)
        yield from _printer_columns(v.get("additionalPrinterColumns") or [], path)


def _go_versions(versions: list[Obj]) -> str:
    return "[]apiextensions.CustomResourceDefinitionVersion{" + ", ".join(
        f'apiextensions.CustomResourceDefinitionVersion{{Name:"{v.get("name", "")}", '
        f'Served:{str(bool(v.get("served"))).lower()}, '
        f'Storage:{str(bool(v.get("storage"))).lower()}}}' for v in versions) + "}"


def _structural(node: Any, path: str, root: bool = False) -> Iterator[FieldError]:
    """The structural rules (schema/validation.go): a type everywhere a value is specified."""
    if not isinstance(node, dict):
        return
    if root and node.get("type") != "object":
        yield errors.required(f"{path}.type", "must not be empty at the root") \
            if not node.get("type") else \
            errors.invalid(f"{path}.type", node["type"], "must be object at the root")
    elif not root and not node.get("type") and not node.get("x-kubernetes-int-or-string") \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        yield errors.required(f"{path}.type", "must not be empty for specified object fields")
    yield from _extensions(node, path)
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        yield errors.required(f"{path}.items", "must be specified")
    for key, sub in (node.get("properties") or {}).items():
        yield from _structural(sub, f"{path}.properties[{key}]")
    if isinstance(node.get("items"), dict):
        yield from _structural(node["items"], f"{path}.items")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _structural(node["additionalProperties"], f"{path}.additionalProperties")


def _extensions(node: Obj, path: str) -> Iterator[FieldError]:
    """The x-kubernetes-* extensions' own rules (ValidateCustomResourceDefinitionOpenAPISchema)."""
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None and list_type not in ("atomic", "map", "set"):
        yield errors.not_supported(f"{path}.x-kubernetes-list-type", list_type,
                                   ["atomic", "map", "set"])
    if list_type == "map" and not node.get("x-kubernetes-list-map-keys"):
        yield errors.required(f"{path}.x-kubernetes-list-map-keys",
                              "must not be empty if x-kubernetes-list-type is map")
    map_type = node.get("x-kubernetes-map-type")
    if map_type is not None and map_type not in ("atomic", "granular"):
        yield errors.not_supported(f"{path}.x-kubernetes-map-type", map_type,
                                   ["atomic", "granular"])
    if node.get("x-kubernetes-preserve-unknown-fields") is False:
        yield errors.invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False,
                             "must be true or undefined")
    if node.get("x-kubernetes-embedded-resource") and node.get("type") != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        yield errors.invalid(f"{path}.type", node["type"], detail) if node.get("type") else \
            errors.required(f"{path}.type", detail)
    if node.get("x-kubernetes-int-or-string") and node.get("type"):
        yield errors.invalid(f"{path}.type", node["type"],
                             "must be empty if x-kubernetes-int-or-string is true")
    if node.get("properties") and isinstance(node.get("additionalProperties"), dict):
        yield errors.forbidden(f"{path}.additionalProperties",
                               "additionalProperties and properties are mutual exclusive")


def _printer_columns(columns: list[Obj], path: str) -> Iterator[FieldError]:
    types = ["boolean", "date", "integer", "number", "string"]
    for i, col in enumerate(columns):
        where = f"{path}.additionalPrinterColumns[{i}]"
        if not col.get("name"):
            yield errors.required(f"{where}.name", "")
        if col.get("type") not in types:
            yield errors.not_supported(f"{where}.type", col.get("type"), types)
        if not col.get("jsonPath"):
            yield errors.required(f"{where}.jsonPath", "")


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateCustomResourceDefinitionUpdate: group and plural never change; scope and kind
    not once the CRD is established (they shape storage)."""
    errs = validate(new)
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    immutable = [("spec.group", ("group",)), ("spec.names.plural", ("names", "plural"))]
    if established(old):
        immutable[:0] = [("spec.scope", ("scope",)), ("spec.names.kind", ("names", "kind"))]
    for path, keys in immutable:
        now, before = _dig(spec, keys), _dig(old_spec, keys)
        if now != before:
            errs.append(errors.invalid(path, now, "field is immutable"))
    return errs


def _dig(obj: Obj, keys: tuple[str, ...]) -> Any:
    for key in keys:
        obj = obj.get(key) or {} if isinstance(obj, dict) else {}
    return obj or ""


# ---- what the established CRD serves ------------------------------------------------------

def definition_package(group: str, version: str) -> str:
    """`io.k8s.networking.gateway.v1.` for gateway.networking.k8s.io/v1: the reversed group."""
    return ".".join(reversed(group.split("."))) + f".{version}."


def resource_type(crd: Obj) -> registry.ResourceType:
    spec, names = crd["spec"], crd["spec"]["names"]
    version = storage_version(crd)
    subs = version.get("subresources") or {}
    kind = names["kind"]
    subresources = []
    if "status" in subs:
        subresources.append(registry.Subresource("status", kind, registry.STATUS_VERBS))
    if "scale" in subs:
        subresources.append(registry.SCALE)
    selectable = {"metadata.name"} | ({"metadata.namespace"}
                                      if spec["scope"] == "Namespaced" else set())
    selectable |= {str(f.get("jsonPath", "")).lstrip(".")
                   for f in version.get("selectableFields") or []}
    return registry.ResourceType(
        names["plural"], names.get("singular") or kind.lower(), kind, group=spec["group"],
        version=version["name"], namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        field_selectors=frozenset(selectable), subresources=tuple(subresources),
        definition_package=definition_package(spec["group"], version["name"]),
        served_versions=tuple(sorted((v["name"] for v in spec["versions"] if v.get("served")),
                                     key=version_priority)))


def version_priority(version: str) -> tuple[int, int, int, str]:
    """CompareKubeAwareVersionStrings as a sort key: GA before beta before alpha, higher
    numbers first, then anything else alphabetically."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (3, 0, 0, version)
    level = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (level, -int(m.group(1)), -int(m.group(3) or 0), "")


def conflict(crd: Obj, served: registry.ResourceType | None) -> str:
    """NamesAccepted=False's message when the plural is served by something else."""
    plural = crd["spec"]["names"]["plural"]
    if served is None:
        return ""
    if served.group == crd["spec"]["group"] and served.kind == crd["spec"]["names"]["kind"] \
            and served.namespaced == (crd["spec"]["scope"] == "Namespaced"):
        return ""
    return f'"{plural}" is already in use'


def condition(kind: str, status: str, reason: str, message: str) -> Obj:
    return {"type": kind, "status": status, "lastTransitionTime": meta.rfc3339(),
            "reason": reason, "message": message}


def established_status(crd: Obj, conflict_message: str) -> Obj:
    """The status the establishing controller writes."""
    names = dict(crd["spec"]["names"])
    stored = list(dict.fromkeys([*((crd.get("status") or {}).get("storedVersions") or []),
                                 storage_version(crd)["name"]]))
    if conflict_message:
        return {"conditions": [condition("NamesAccepted", "False", "PluralConflict",
                                         conflict_message),
                               condition("Established", "False", "NotAccepted",
                                         "not all names are accepted")],
                "acceptedNames": {"kind": "", "plural": ""}, "storedVersions": stored}
    return {"conditions": [condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                           condition("Established", "True", "InitialNamesAccepted",
                                     "the initial names have been accepted")],
            "acceptedNames": names, "storedVersions": stored}


def established(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])

