"""RBAC as upstream's authorizer evaluates it (plugin/pkg/auth/authorizer/rbac/rbac.go,
pkg/apis/rbac/v1/evaluation_helpers.go): pure functions over the wire dicts of Roles,
ClusterRoles and their bindings, the 403 text of the API server
(endpoints/handlers/responsewriters/errors.go) and the escalation check (validation.Covers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from podhost.api.pvbinding import selector_matches
from podhost.api.types import Obj

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def is_admin(self) -> bool:
        return MASTERS in self.groups


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: who does what to which resource (or which path)."""
    user: User
    verb: str
    resource_request: bool = True
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass
class Policy:
    """All Roles, ClusterRoles and bindings, with aggregated ClusterRoles resolved."""
    cluster_roles: dict[str, list[Obj]] = field(default_factory=dict)  # name → rules
    roles: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)  # (ns, name) → rules
    cluster_bindings: list[Obj] = field(default_factory=list)
    bindings: dict[str, list[Obj]] = field(default_factory=dict)  # namespace → RoleBindings


def aggregated_rules(cluster_roles: Iterable[Obj]) -> dict[str, list[Obj]]:
    """name → rules, with each aggregationRule's selected ClusterRoles' rules (transitively)
    appended to the role's own, as the clusterrole-aggregation controller does."""
    roles = {r["metadata"]["name"]: r for r in cluster_roles}
    own = {name: list(r.get("rules") or []) for name, r in roles.items()}
    result: dict[str, list[Obj]] = {}

    def resolve(name: str, seen: frozenset[str]) -> list[Obj]:
        if name in result:
            return result[name]
        rules = list(own[name])
        for sel in (roles[name].get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
            for other, role in sorted(roles.items()):
                if other != name and other not in seen and \
                        selector_matches(sel, role["metadata"].get("labels") or {}):
                    rules += [r for r in resolve(other, seen | {name}) if r not in rules]
        result[name] = rules
        return rules

    for name in roles:
        resolve(name, frozenset())
    return result


def build_policy(cluster_roles: list[Obj], roles: list[Obj], cluster_bindings: list[Obj],
                 bindings: list[Obj]) -> Policy:
    by_ns: dict[str, list[Obj]] = {}
    for b in bindings:
        by_ns.setdefault(b["metadata"].get("namespace") or "", []).append(b)
    return Policy(aggregated_rules(cluster_roles),
                  {(r["metadata"].get("namespace") or "", r["metadata"]["name"]):
                   list(r.get("rules") or []) for r in roles},
                  cluster_bindings, by_ns)


def applies_to(subject: Obj, user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return user.name == f"{SA_PREFIX}{ns}:{name}"
    return False


def _role_rules(policy: Policy, ref: Obj, namespace: str) -> list[Obj]:
    if ref.get("kind") == "ClusterRole":
        return policy.cluster_roles.get(ref.get("name") or "", [])
    return policy.roles.get((namespace, ref.get("name") or ""), [])


def rules_for(policy: Policy, user: User, namespace: str) -> Iterator[Obj]:
    """VisitRulesFor: the rules of every ClusterRoleBinding, then every RoleBinding of
    `namespace`, whose subjects include the user."""
    for b in policy.cluster_bindings:
        if any(applies_to(s, user, "") for s in b.get("subjects") or []):
            yield from _role_rules(policy, b.get("roleRef") or {}, "")
    if namespace:
        for b in policy.bindings.get(namespace, []):
            if any(applies_to(s, user, namespace) for s in b.get("subjects") or []):
                yield from _role_rules(policy, b.get("roleRef") or {}, namespace)


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _resource_matches(rule_resources: list[str], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule_resources:
        if r == "*" or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _url_matches(urls: list[str], path: str) -> bool:
    return any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1]))
               for u in urls)


def rule_allows(a: Attributes, rule: Obj) -> bool:
    if not _has(rule.get("verbs"), a.verb):
        return False
    if not a.resource_request:
        return _url_matches(rule.get("nonResourceURLs") or [], a.path)
    names = rule.get("resourceNames") or []
    return _has(rule.get("apiGroups"), a.group) and \
        _resource_matches(rule.get("resources") or [], a.resource, a.subresource) and \
        (not names or a.name in names)


def authorize(policy: Policy, a: Attributes) -> bool:
    """The decision: system:masters always; otherwise any rule bound to the user allows it."""
    if a.user.is_admin():
        return True
    return any(rule_allows(a, r) for r in rules_for(policy, a.user, a.namespace))


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def forbidden_message(a: Attributes, reason: str = "") -> str:
    """ForbiddenStatusError's text (the Status message of a 403)."""
    who = a.user.name
    if a.resource_request:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        msg = f'User "{who}" cannot {a.verb} resource "{resource}" in API group "{a.group}" ' \
            + where
    else:
        msg = f'User "{who}" cannot {a.verb} path "{a.path}"'
    if reason:
        msg += ": " + reason
    what = qualified(a.resource, a.group)
    if not what:  # a non-resource URL: NewForbidden of an empty GroupResource
        return f"forbidden: {msg}"
    if a.name:
        return f'{what} "{a.name}" is forbidden: {msg}'
    return f"{what} is forbidden: {msg}"


# -- escalation: does what the user holds cover the rules it grants? -------------------------
def _atoms(rule: Obj) -> Iterator[Obj]:
    """BreakdownRule: one verb, group, resource and name at a time."""
    for verb in rule.get("verbs") or []:
        for group in rule.get("apiGroups") or []:
            for res in rule.get("resources") or []:
                for name in rule.get("resourceNames") or [""]:
                    yield {"verbs": [verb], "apiGroups": [group], "resources": [res],
                           "resourceNames": [name] if name else []}
        for url in rule.get("nonResourceURLs") or []:
            yield {"verbs": [verb], "nonResourceURLs": [url]}


def _covers(owner: Obj, atom: Obj) -> bool:
    verb = atom["verbs"][0]
    if not _has(owner.get("verbs"), verb):
        return False
    if "nonResourceURLs" in atom:
        return _url_matches(owner.get("nonResourceURLs") or [], atom["nonResourceURLs"][0])
    wanted = atom["resources"][0]
    owned = owner.get("resources") or []
    sub = wanted.split("/", 1)[1] if "/" in wanted else ""
    if not _has(owner.get("apiGroups"), atom["apiGroups"][0]) or not (
            "*" in owned or wanted in owned or (sub and f"*/{sub}" in owned)):
        return False
    names = owner.get("resourceNames") or []
    return not names or (bool(atom["resourceNames"]) and atom["resourceNames"][0] in names)


def uncovered(owner_rules: list[Obj], rules: list[Obj]) -> list[Obj]:
    """The broken-down rules of `rules` that no rule the user holds covers."""
    return [a for r in rules for a in _atoms(r) if not any(_covers(o, a) for o in owner_rules)]


def _rule_text(r: Obj) -> str:
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"),
                       ("resourceNames", "ResourceNames"), ("nonResourceURLs", "NonResourceURLs"),
                       ("verbs", "Verbs")):
        if r.get(key):
            parts.append(f"{label}:[{' '.join(json.dumps(v) for v in r[key])}]")
    return "{" + ", ".join(parts) + "}"


def escalation_message(user: User, missing: list[Obj]) -> str:
    groups = " ".join(json.dumps(g) for g in user.groups)
    return (f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions '
            "not currently held:\n" + "\n".join(_rule_text(r) for r in missing))
