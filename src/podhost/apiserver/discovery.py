"""What kubectl asks before anything else: /version, /api, /apis, /api/v1 and OpenAPI."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from podhost.api import registry, schema
from podhost.apiserver import metrics, protobuf
from podhost.apiserver.http import Response

MAJOR, MINOR, GIT_VERSION = "1", "32", "v1.32.0"

def version(platform: str = "linux/amd64") -> dict[str, Any]:
    return {"major": MAJOR, "minor": MINOR, "gitVersion": GIT_VERSION,
            "gitCommit": "podhost", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23", "compiler": "gc", "platform": platform}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(group: str) -> dict[str, Any]:
    """The APIGroup of legacy discovery (an item of /apis, and /apis/GROUP)."""
    versions = [{"groupVersion": f"{group}/{v}", "version": v}
                for g, v in registry.group_versions() if g == group]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def _groups() -> list[str]:
    return list(dict.fromkeys(g for g, _ in registry.group_versions()))


def api_group_list() -> dict[str, Any]:
    groups = [{k: v for k, v in api_group(g).items() if k not in ("kind", "apiVersion")}
              for g in _groups()]
    group = {k: v for k, v in metrics.api_group().items() if k not in ("kind", "apiVersion")}
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [*groups, group]}


def group_document(path: str) -> dict[str, Any] | None:
    """/apis/GROUP (APIGroup) and /apis/GROUP/VERSION (APIResourceList) of served groups."""
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "apis" and parts[2] in _groups():
        return api_group(parts[2])
    if len(parts) == 4 and parts[1] == "apis" and (parts[2], parts[3]) in \
            registry.group_versions():
        return api_resource_list(parts[2], parts[3])
    return None


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """The client asks for aggregated discovery (apidiscovery.k8s.io/v2) first."""
    for media in accept.split(","):
        params = {p.strip() for p in media.split(";")}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


def api_group_discovery_list() -> dict[str, Any]:
    """/apis in the aggregated form: every group with its resources in one document."""
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": [*(_group_discovery(g) for g in _groups()),
                                      metrics.group_discovery()]}


def _group_discovery(group: str) -> dict[str, Any]:
    versions = []
    for g, version in registry.group_versions():
        if g != group:
            continue
        resources = []
        for r in registry.in_group_version(group, version):
            entry: dict[str, Any] = {
                "resource": r.name, "responseKind": {"group": group, "version": version,
                                                     "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster",
                "singularResource": r.singular, "verbs": list(r.verbs)}
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            if r.subresources:
                entry["subresources"] = [
                    {"subresource": s.name, "responseKind": {
                        "group": s.group or group, "version": s.version or version,
                        "kind": s.kind}, "verbs": list(s.verbs)} for s in r.subresources]
            resources.append(entry)
        versions.append({"version": version, "resources": resources, "freshness": "Current"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


def api_resource_list(group: str = "", version: str = "v1") -> dict[str, Any]:
    """/api/v1, or /apis/GROUP/VERSION: the resources served there."""
    resources: list[dict[str, Any]] = []
    served = list(registry.in_group_version(group, version))
    for r in served:
        entry: dict[str, Any] = {"name": r.name, "singularName": r.singular,
                                 "namespaced": r.namespaced, "kind": r.kind,
                                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
    for r in served:
        for s in r.subresources:
            sub: dict[str, Any] = {"name": f"{r.name}/{s.name}", "singularName": "",
                                   "namespaced": r.namespaced, "kind": s.kind,
                                   "verbs": list(s.verbs)}
            if s.group:
                sub.update(group=s.group, version=s.version)
            resources.append(sub)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


def _prefixes(group: str, version: str) -> tuple[str, ...]:
    """The definitions a group-version document carries: its own, core/v1 (Pod templates),
    autoscaling/v1 (Scale) and apimachinery's."""
    own = tuple(dict.fromkeys(r.definition.rsplit(".", 1)[0] + "."
                              for r in registry.in_group_version(group, version)))
    return (*own, *OPENAPI_CORE_PREFIXES, "io.k8s.api.autoscaling.v1.")


@functools.cache
def _openapi_v3_cached(group: str, version: str) -> tuple[dict[str, Any], str]:
    prefixes = OPENAPI_CORE_PREFIXES if not group else _prefixes(group, version)
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
           "paths": _openapi_paths(group, version),
           "components": {"schemas": {k: v for k, v in schema.openapi_schemas().items()
                                      if k.startswith(prefixes)}}}
    digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
    return doc, digest


def changed() -> None:
    """The served resources changed (a CRD was established or removed)."""
    _openapi_v3_cached.cache_clear()
    openapi_v2.cache_clear()


def openapi_v3_root() -> dict[str, Any]:
    paths = {"api/v1": {"serverRelativeURL":
                        f"/openapi/v3/api/v1?hash={_openapi_v3_cached('', 'v1')[1]}"}}
    for group, version in registry.group_versions():
        digest = _openapi_v3_cached(group, version)[1]
        paths[f"apis/{group}/{version}"] = {
            "serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={digest}"}
    return {"paths": paths}


def openapi_v3_core() -> dict[str, Any]:
    """The core/v1 OpenAPI v3 document built from the Kubernetes 1.32 definitions.

    kubectl reads it to trust server-side field validation (a `patch` with
    `x-kubernetes-group-version-kind` and a `fieldValidation` parameter), to compute
    client-side apply patches (the strategic-merge `requestBody` plus `components.schemas`)
    and for `kubectl explain`.
    """
    return _openapi_v3_cached("", "v1")[0]


def openapi_v3_group(path: str) -> dict[str, Any] | None:
    """/openapi/v3/apis/GROUP/VERSION: the same document for a named group's version."""
    parts = path.strip("/").split("/")
    if len(parts) == 5 and parts[:3] == ["openapi", "v3", "apis"] and \
            (parts[3], parts[4]) in registry.group_versions():
        return _openapi_v3_cached(parts[3], parts[4])[0]
    return None


OPENAPI_CORE_PREFIXES = ("io.k8s.api.core.v1.", "io.k8s.apimachinery.")
PATCH_TYPES = ["application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in names]


def _tag(group: str, version: str) -> str:
    """`core_v1`, `apps_v1`, `rbacAuthorization_v1` as the API server's OpenAPI tags go."""
    words = (group or "core").removesuffix(".k8s.io").split(".")
    return words[0] + "".join(w.capitalize() for w in words[1:]) + "_" + version


def _operation(r: registry.ResourceType, action: str, verb: str, body: str | None,
               params: list[str], response: str, body_types: list[str] | None = None
               ) -> dict[str, Any]:
    tag = _tag(r.group, r.version)
    words = tag.split("_")
    ns = "Namespaced" if r.namespaced else ""
    op: dict[str, Any] = {
        "operationId": f"{verb}{words[0][0].upper()}{words[0][1:]}"
                       f"{words[1].capitalize()}{ns}{r.kind}",
        "tags": [tag],
        "parameters": _query(*params),
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": _ref(response)}}},
            "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                            "kind": r.kind}}
    if body:
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": _ref(body)} for t in body_types or ["*/*"]}}
    return op


def _resource_paths(r: registry.ResourceType) -> dict[str, Any]:
    obj = r.definition
    lst = obj + "List"
    status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    root = f"/apis/{r.group}/{r.version}/" if r.group else "/api/v1/"
    prefix = root + "namespaces/{namespace}/" if r.namespaced else root
    path_params = [{"name": "namespace", "in": "path", "required": True,
                    "schema": {"type": "string", "uniqueItems": True}}] if r.namespaced else []
    named = [{"name": "name", "in": "path", "required": True,
              "schema": {"type": "string", "uniqueItems": True}}, *path_params]
    write = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
    item = {
        "get": _operation(r, "get", "read", None, ["pretty"], obj),
        "put": _operation(r, "put", "replace", obj, write, obj),
        "patch": _operation(r, "patch", "patch", "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
                            [*write, "force"], obj, PATCH_TYPES),
        "delete": _operation(r, "delete", "delete",
                             "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                             ["dryRun", "gracePeriodSeconds", "pretty", "propagationPolicy"],
                             status),
        "parameters": named}
    collection = {
        "get": _operation(r, "list", "list", None,
                          ["fieldSelector", "labelSelector", "limit", "resourceVersion",
                           "timeoutSeconds", "watch"], lst),
        "post": _operation(r, "post", "create", obj, write, obj),
        "parameters": path_params}
    return {f"{prefix}{r.name}": collection, f"{prefix}{r.name}/{{name}}": item}


def _openapi_paths(group: str = "", version: str = "v1") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in registry.in_group_version(group, version):
        paths.update(_resource_paths(r))
    return paths


# kubectl asks with "@v1.0"; the answer uses the form Go's mime parser accepts, as
# kube-apiserver does.
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
OPENAPI_V2_PROTOBUF_REPLY = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _v2_parameter(param: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 path or query parameter in its Swagger 2.0 shape (type inline)."""
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update(param.get("schema", {}))
    return out


def _v2_operation(op: dict[str, Any]) -> dict[str, Any]:
    """The v3 operation without bodies or response schemas: /openapi/v2 has no definitions,
    so kubectl falls back to its compiled-in types, as it does for a 404."""
    out: dict[str, Any] = {k: v for k, v in op.items()
                           if k in ("operationId", "tags") or k.startswith("x-")}
    out["consumes"] = sorted(op.get("requestBody", {}).get("content", {"*/*": None}))
    out["produces"] = ["application/json"]
    out["parameters"] = [_v2_parameter(p) for p in op.get("parameters", [])]
    out["responses"] = {code: {"description": r["description"]}
                        for code, r in op["responses"].items()}
    return out


@functools.cache
def openapi_v2() -> dict[str, Any]:
    """The Swagger 2.0 document kubectl 1.27/1.28 read before apply and create.

    They check that the Pod `patch` operation accepts `fieldValidation` (then the server
    validates) and build strategic merge patches from compiled-in types when the document
    has no definition for a kind.
    """
    paths: dict[str, Any] = {}
    for path, item in _openapi_paths().items():
        paths[path] = {verb: _v2_operation(op) if verb != "parameters" else
                       [_v2_parameter(p) for p in op] for verb, op in item.items()}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths, "definitions": {}}


def openapi_v2_response(accept: str) -> Response:
    """/openapi/v2 as gnostic protobuf when asked for (kubectl), else JSON."""
    if OPENAPI_V2_PROTOBUF in accept or OPENAPI_V2_PROTOBUF_REPLY in accept:
        return Response(200, protobuf.encode_openapi_v2(openapi_v2()),
                        content_type=OPENAPI_V2_PROTOBUF_REPLY)
    return Response(200, json.dumps(openapi_v2(), separators=(",", ":")).encode())
