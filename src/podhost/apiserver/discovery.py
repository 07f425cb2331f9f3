"""What kubectl asks before anything else: /version, /api, /apis, /api/v1 and OpenAPI."""

from __future__ import annotations

from typing import Any

MAJOR, MINOR, GIT_VERSION = "1", "32", "v1.32.0"

VERBS_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# name, singular, kind, namespaced, verbs, shortNames, categories
RESOURCES: list[tuple[str, str, str, bool, list[str], list[str], list[str]]] = [
    ("pods", "pod", "Pod", True, VERBS_ALL, ["po"], ["all"]),
    ("namespaces", "namespace", "Namespace", False,
     ["create", "delete", "get", "list", "patch", "update", "watch"], ["ns"], []),
    ("events", "event", "Event", True, VERBS_ALL, ["ev"], []),
]
SUBRESOURCES: list[tuple[str, str, list[str]]] = [
    ("pods/status", "Pod", ["get", "patch", "update"]),
    ("pods/log", "Pod", ["get"]),
    ("pods/exec", "PodExecOptions", ["create", "get"]),
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
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


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
    for name, kind, verbs in SUBRESOURCES:
        resources.append({"name": name, "singularName": "", "namespaced": True, "kind": kind,
                          "verbs": verbs})
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}


def openapi_v3_root() -> dict[str, Any]:
    return {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=podhost-1"}}}


def openapi_v3_core() -> dict[str, Any]:
    """Enough of the core/v1 document for kubectl to trust server-side field validation."""
    paths: dict[str, Any] = {}
    for name, _singular, kind, namespaced, _verbs, _short, _cat in RESOURCES:
        base = f"/api/v1/namespaces/{{namespace}}/{name}/{{name}}" if namespaced \
            else f"/api/v1/{name}/{{name}}"
        paths[base] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": kind},
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string", "uniqueItems": True}}],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths}
