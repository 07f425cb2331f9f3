"""Admission of identity objects: the ServiceAccount admission of new Pods (mutating), RBAC
validation and the escalation checks of Role, ClusterRole and binding writes (a user may grant
only what it holds, unless it may `escalate` / `bind`), and the bootstrap policy seeded at
start-up (plugin/pkg/auth/authorizer/rbac/bootstrappolicy, reconciled as kube-apiserver's
`rbac/bootstrap-roles` post-start hook does for roles marked autoupdate)."""

from __future__ import annotations

import contextlib

from podhost.api import errors, rbac, rbacpolicy, registry, serviceaccount, strategy
from podhost.api.rbac import Attributes, User
from podhost.api.types import Obj
from podhost.apiserver.http import Request
from podhost.apiserver.identity import RBAC_RESOURCES, Identity
from podhost.store.sqlite import Store

_ROLE_KINDS = {"rolebindings": ("Role", "ClusterRole"), "clusterrolebindings": ("ClusterRole",)}
_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def seed_policy(store: Store) -> None:
    """Create the default ClusterRoles and ClusterRoleBindings; bring back bootstrap roles
    marked autoupdate whose rules were changed."""
    for resource, objs in (("clusterroles", rbacpolicy.cluster_roles()),
                           ("clusterrolebindings", rbacpolicy.cluster_role_bindings())):
        for obj in objs:
            name = obj["metadata"]["name"]
            try:
                old = store.get(resource, "", name)
            except errors.NotFoundError:
                with contextlib.suppress(errors.AlreadyExistsError):
                    store.create(resource, strategy.prepare_for_create(resource, obj, None))
                continue
            keys = ("rules", "aggregationRule", "roleRef", "subjects")
            if (old["metadata"].get("annotations") or {}).get(
                    "rbac.authorization.kubernetes.io/autoupdate") == "true" and \
                    any(old.get(k) != obj.get(k) for k in keys if k in obj) and \
                    not obj.get("aggregationRule"):
                old.update({k: obj[k] for k in keys if k in obj})
                store.update(resource, old)
    aggregate(store)


def aggregate(store: Store) -> None:
    """The clusterrole-aggregation controller: write each aggregated ClusterRole's rules."""
    roles = store.list("clusterroles")[0]
    rules = rbac.aggregated_rules(roles)
    for role in roles:
        if role.get("aggregationRule") and role.get("rules") != rules[role["metadata"]["name"]]:
            role["rules"] = rules[role["metadata"]["name"]]
            with contextlib.suppress(errors.ApiError):
                store.update("clusterroles", role)


def _path_segment(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


def _rule_errors(rules: list[Obj], namespaced: bool) -> list[errors.FieldError]:
    errs = []
    for i, r in enumerate(rules):
        p = f"rules[{i}]"
        if not r.get("verbs"):
            errs.append(errors.required(f"{p}.verbs", "verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if namespaced:
                errs.append(errors.invalid(f"{p}.nonResourceURLs", r["nonResourceURLs"],
                                           "namespaced rules cannot apply to non-resource URLs"))
            continue
        if not r.get("apiGroups"):
            errs.append(errors.required(f"{p}.apiGroups",
                                        "resource rules must supply at least one api group"))
        if not r.get("resources"):
            errs.append(errors.required(f"{p}.resources",
                                        "resource rules must supply at least one resource"))
    return errs


def _binding_errors(resource: str, obj: Obj) -> list[errors.FieldError]:
    errs = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != rbac.GROUP:
        errs.append(errors.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""),
                                         [rbac.GROUP]))
    if ref.get("kind") not in _ROLE_KINDS[resource]:
        errs.append(errors.not_supported("roleRef.kind", ref.get("kind", ""),
                                         list(_ROLE_KINDS[resource])))
    if not ref.get("name"):
        errs.append(errors.required("roleRef.name"))
    for i, s in enumerate(obj.get("subjects") or []):
        p = f"subjects[{i}]"
        if not s.get("name"):
            errs.append(errors.required(f"{p}.name"))
        if s.get("kind") not in _SUBJECT_KINDS:
            errs.append(errors.not_supported(f"{p}.kind", s.get("kind", ""), _SUBJECT_KINDS))
        elif s["kind"] == "ServiceAccount":
            if s.get("apiGroup"):
                errs.append(errors.not_supported(f"{p}.apiGroup", s["apiGroup"], [""]))
            if resource == "clusterrolebindings" and not s.get("namespace"):
                errs.append(errors.required(f"{p}.namespace"))
        elif s.get("apiGroup") != rbac.GROUP:
            errs.append(errors.not_supported(f"{p}.apiGroup", s.get("apiGroup", ""),
                                             [rbac.GROUP]))
    return errs


def validate(resource: str, obj: Obj, old: Obj | None) -> None:
    name = obj["metadata"].get("name") or ""
    errs = [errors.invalid("metadata.name", name, m) for m in _path_segment(name)]
    if not name:
        errs.append(errors.required("metadata.name", "name or generateName is required"))
    if resource in ("roles", "clusterroles"):
        errs += _rule_errors(obj.get("rules") or [], resource == "roles")
    else:
        errs += _binding_errors(resource, obj)
        if old is not None and old.get("roleRef") != obj.get("roleRef"):
            errs.append(errors.invalid("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    if errs:
        raise errors.InvalidError(registry.kind_of(resource), name, errs)


class Admission:
    def __init__(self, store: Store, identity: Identity) -> None:
        self.store, self.identity = store, identity

    def mutate(self, request: Request, resource: str, obj: Obj) -> None:
        """Mutating admission of a new object (before validation)."""
        if resource == "pods":
            serviceaccount.admit_from(self.store, obj)

    def admit(self, request: Request, resource: str, obj: Obj, old: Obj | None) -> None:
        """Validating admission of a create or update (after validation)."""
        if resource not in RBAC_RESOURCES:
            return
        validate(resource, obj, old)
        user: User | None = request.user
        if user is None or user.is_admin():
            return
        ns = obj["metadata"].get("namespace") or ""
        name = obj["metadata"].get("name") or ""
        if resource in ("roles", "clusterroles"):
            if self.identity.allowed(Attributes(user, "escalate", True, rbac.GROUP, resource,
                                                "", ns, name)):
                return
            rules = obj.get("rules") or []
        else:
            ref = obj.get("roleRef") or {}
            role_resource = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            if self.identity.allowed(Attributes(user, "bind", True, rbac.GROUP, role_resource,
                                                "", ns, str(ref.get("name") or ""))):
                return
            rules = self._role_rules(ref, ns)
        missing = rbac.uncovered(self.identity.rules(user, ns), rules)
        if missing:
            a = Attributes(user, "create", True, rbac.GROUP, resource, "", ns, name)
            raise errors.ForbiddenError(
                f'{rbac.qualified(resource, rbac.GROUP)} "{name}" is forbidden: '
                + rbac.escalation_message(user, missing), kind=a.resource, name=name,
                group=rbac.GROUP)

    def _role_rules(self, ref: Obj, ns: str) -> list[Obj]:
        policy = self.identity.policy()
        if ref.get("kind") == "ClusterRole":
            return policy.cluster_roles.get(str(ref.get("name") or ""), [])
        return policy.roles.get((ns, str(ref.get("name") or "")), [])
