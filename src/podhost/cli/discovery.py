"""The resource types the CLI knows are those the server's discovery lists (as kubectl's
RESTMapper and category expander use it): plural, singular, kind, short names and categories
(`all`), for any server the kubeconfig points at; fetched once per process."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from podhost.cli.errors import StatusError

AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    group_version: str = "v1"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def qualified(self) -> str:
        """`deployment.apps`, `pod`: how kubectl names the type in its messages."""
        return f"{self.singular}.{self.group}" if self.group else self.singular


def from_resource_list(doc: dict[str, Any]) -> list[Resource]:
    """An APIResourceList (/api/v1, /apis/G/V) → its resources, subresources left out."""
    gv = doc.get("groupVersion") or "v1"
    return [Resource(r["name"], r.get("singularName") or r["kind"].lower(), r["kind"],
                     bool(r.get("namespaced")), gv, tuple(r.get("shortNames") or ()),
                     tuple(r.get("categories") or ()), tuple(r.get("verbs") or ()))
            for r in doc.get("resources") or [] if "/" not in r["name"]]


def from_aggregated(doc: dict[str, Any]) -> list[Resource]:
    """An APIGroupDiscoveryList (/apis, apidiscovery.k8s.io/v2) → the resources of each
    group's preferred (first) version."""
    out = []
    for group in doc.get("items") or []:
        name = (group.get("metadata") or {}).get("name") or ""
        versions = group.get("versions") or []
        if not versions:
            continue
        version = versions[0]
        gv = f"{name}/{version['version']}" if name else version["version"]
        for r in version.get("resources") or []:
            kind = (r.get("responseKind") or {}).get("kind") or ""
            out.append(Resource(r["resource"], r.get("singularResource") or kind.lower(), kind,
                                r.get("scope") == "Namespaced", gv,
                                tuple(r.get("shortNames") or ()),
                                tuple(r.get("categories") or ()), tuple(r.get("verbs") or ())))
    return out


def discover(get: Callable[..., Any]) -> list[Resource]:
    """Every resource the server serves: /api/v1, then /apis (aggregated in one request, or
    group by group from an older server)."""
    out = from_resource_list(get("/api/v1"))
    apis = get("/apis", accept=AGGREGATED)
    if apis.get("kind") == "APIGroupDiscoveryList":
        return out + from_aggregated(apis)
    for group in apis.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            try:
                out += from_resource_list(get(f"/apis/{preferred}"))
            except StatusError:  # as kubectl: a group that cannot be listed is left out
                continue
    return out


def match(resources: Iterable[Resource], name: str) -> Resource | None:
    """kubectl's resource argument: `pods`, `pod`, `po`, `Pod`, `deployments.apps`,
    `deployments.v1.apps`; the first match in discovery order (core first, as kubectl)."""
    key, _, qualifier = name.lower().partition(".")
    for r in resources:
        if key not in (r.plural, r.singular, r.kind.lower(), *r.short_names):
            continue
        version = r.group_version.rpartition("/")[2]
        if qualifier in ("", r.group, version, f"{version}.{r.group}") or \
                (not r.group and qualifier == "v1"):
            return r
    return None


def category(resources: Iterable[Resource], name: str) -> list[Resource]:
    """The resources of a category (`all`), in discovery order."""
    return [r for r in resources if name.lower() in r.categories]
