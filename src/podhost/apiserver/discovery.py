"""What kubectl asks before anything else: /version, /api, /apis, /api/v1 and OpenAPI."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from podhost.api import schema
from podhost.apiserver import metrics, protobuf
from podhost.apiserver.http import Response

MAJOR, MINOR, GIT_VERSION = "1", "32", "v1.32.0"

VERBS_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# name, singular, kind, namespaced, verbs, shortNames, categories
RESOURCES: list[tuple[str, str, str, bool, list[str], list[str], list[str]]] = [
    ("pods", "pod", "Pod", True, VERBS_ALL, ["po"], ["all"]),
    ("namespaces", "namespace", "Namespace", False,
     ["create", "delete", "get", "list", "patch", "update", "watch"], ["ns"], []),
    ("events", "event", "Event", True, VERBS_ALL, ["ev"], []),
    ("configmaps", "configmap", "ConfigMap", True, VERBS_ALL, ["cm"], []),
    ("secrets", "secret", "Secret", True, VERBS_ALL, [], []),
    ("serviceaccounts", "serviceaccount", "ServiceAccount", True, VERBS_ALL, ["sa"], []),
    ("nodes", "node", "Node", False, VERBS_ALL, ["no"], []),
]
SUBRESOURCES: list[tuple[str, str, list[str]]] = [
    ("pods/status", "Pod", ["get", "patch", "update"]),
    ("pods/log", "Pod", ["get"]),
    ("pods/attach", "PodAttachOptions", ["create", "get"]),
    ("pods/exec", "PodExecOptions", ["create", "get"]),
    ("pods/portforward", "PodPortForwardOptions", ["create", "get"]),
    ("namespaces/status", "Namespace", ["get", "patch", "update"]),
    ("nodes/status", "Node", ["get", "patch", "update"]),
]


def version(platform: str = "linux/amd64") -> dict[str, Any]:
    return {"major": MAJOR, "minor": MINOR, "gitVersion": GIT_VERSION,
            "gitCommit": "podhost", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23", "compiler": "gc", "platform": platform}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group_list() -> dict[str, Any]:
    group = {k: v for k, v in metrics.api_group().items() if k not in ("kind", "apiVersion")}
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}


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
            "metadata": {}, "items": [metrics.group_discovery()]}


def api_resource_list() -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for name, singular, kind, namespaced, verbs, short, categories in RESOURCES:
        entry: dict[str, Any] = {"name": name, "singularName": singular, "namespaced": namespaced,
                                 "kind": kind, "verbs": verbs}
        if short:
            entry["shortNames"] = short
        if categories:
            entry["categories"] = categories
        resources.append(entry)
    scope = {r[0]: r[3] for r in RESOURCES}
    for name, kind, verbs in SUBRESOURCES:
        resources.append({"name": name, "singularName": "",
                          "namespaced": scope[name.split("/")[0]], "kind": kind,
                          "verbs": verbs})
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}


@functools.cache
def _openapi_v3_core_cached() -> tuple[dict[str, Any], str]:
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
           "paths": _openapi_paths(),
           "components": {"schemas": {k: v for k, v in schema.openapi_schemas().items()
                                      if k.startswith(OPENAPI_CORE_PREFIXES)}}}
    digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
    return doc, digest


def openapi_v3_root() -> dict[str, Any]:
    digest = _openapi_v3_core_cached()[1]
    return {"paths": {"api/v1": {"serverRelativeURL": f"/openapi/v3/api/v1?hash={digest}"}}}


def openapi_v3_core() -> dict[str, Any]:
    """The core/v1 OpenAPI v3 document built from the Kubernetes 1.32 definitions.

    kubectl reads it to trust server-side field validation (a `patch` with
    `x-kubernetes-group-version-kind` and a `fieldValidation` parameter), to compute
    client-side apply patches (the strategic-merge `requestBody` plus `components.schemas`)
    and for `kubectl explain`.
    """
    return _openapi_v3_core_cached()[0]


OPENAPI_CORE_PREFIXES = ("io.k8s.api.core.v1.", "io.k8s.apimachinery.")
PATCH_TYPES = ["application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in names]


def _operation(kind: str, action: str, op_id: str, body: str | None, params: list[str],
               response: str, body_types: list[str] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id, "tags": ["core_v1"],
        "parameters": _query(*params),
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": _ref(response)}}},
            "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": kind}}
    if body:
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": _ref(body)} for t in body_types or ["*/*"]}}
    return op


def _resource_paths(name: str, kind: str, namespaced: bool) -> dict[str, Any]:
    obj, lst = "io.k8s.api.core.v1." + kind, "io.k8s.api.core.v1." + kind + "List"
    status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    prefix = "/api/v1/namespaces/{namespace}/" if namespaced else "/api/v1/"
    ns = "Namespaced" if namespaced else ""
    path_params = [{"name": "namespace", "in": "path", "required": True,
                    "schema": {"type": "string", "uniqueItems": True}}] if namespaced else []
    named = [{"name": "name", "in": "path", "required": True,
              "schema": {"type": "string", "uniqueItems": True}}, *path_params]
    write = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
    item = {
        "get": _operation(kind, "get", f"readCoreV1{ns}{kind}", None, ["pretty"], obj),
        "put": _operation(kind, "put", f"replaceCoreV1{ns}{kind}", obj, write, obj),
        "patch": _operation(kind, "patch", f"patchCoreV1{ns}{kind}",
                            "io.k8s.apimachinery.pkg.apis.meta.v1.Patch", [*write, "force"],
                            obj, PATCH_TYPES),
        "delete": _operation(kind, "delete", f"deleteCoreV1{ns}{kind}",
                             "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                             ["dryRun", "gracePeriodSeconds", "pretty", "propagationPolicy"],
                             status),
        "parameters": named}
    collection = {
        "get": _operation(kind, "list", f"listCoreV1{ns}{kind}", None,
                          ["fieldSelector", "labelSelector", "limit", "resourceVersion",
                           "timeoutSeconds", "watch"], lst),
        "post": _operation(kind, "post", f"createCoreV1{ns}{kind}", obj, write, obj),
        "parameters": path_params}
    return {f"{prefix}{name}": collection, f"{prefix}{name}/{{name}}": item}


def _openapi_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name, _singular, kind, namespaced, _verbs, _short, _cat in RESOURCES:
        paths.update(_resource_paths(name, kind, namespaced))
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
