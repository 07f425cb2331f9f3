"""The bootstrap RBAC policy seeded at start-up (plugin/pkg/auth/authorizer/rbac/
bootstrappolicy, reconciled as kube-apiserver's `rbac/bootstrap-roles` post-start hook does for
roles marked autoupdate) and ClusterRole aggregation. Admission of each resource is its
strategy's (podhost.registry)."""

from __future__ import annotations

import contextlib

from podhost.api import errors, rbac, rbacpolicy
from podhost.registry.generic import Registry

MANAGER = "kube-apiserver"


def seed_policy(registry: Registry) -> None:
    """Create the default ClusterRoles and ClusterRoleBindings; bring back bootstrap roles
    marked autoupdate whose rules were changed."""
    store = registry.store
    for resource, objs in (("clusterroles", rbacpolicy.cluster_roles()),
                           ("clusterrolebindings", rbacpolicy.cluster_role_bindings())):
        for obj in objs:
            name = obj["metadata"]["name"]
            try:
                old = store.get(resource, "", name)
            except errors.NotFoundError:
                with contextlib.suppress(errors.AlreadyExistsError):
                    registry.create(resource, obj, None, manager=MANAGER)
                continue
            keys = ("rules", "aggregationRule", "roleRef", "subjects")
            if (old["metadata"].get("annotations") or {}).get(
                    "rbac.authorization.kubernetes.io/autoupdate") == "true" and \
                    any(old.get(k) != obj.get(k) for k in keys if k in obj) and \
                    not obj.get("aggregationRule"):
                old.update({k: obj[k] for k in keys if k in obj})
                registry.update(resource, old, manager=MANAGER)
    aggregate(registry)


def aggregate(registry: Registry) -> None:
    """The clusterrole-aggregation controller: write each aggregated ClusterRole's rules."""
    roles = registry.store.list("clusterroles")[0]
    rules = rbac.aggregated_rules(roles)
    for role in roles:
        if role.get("aggregationRule") and role.get("rules") != rules[role["metadata"]["name"]]:
            role["rules"] = rules[role["metadata"]["name"]]
            with contextlib.suppress(errors.ApiError):
                registry.update("clusterroles", role, manager="clusterrole-aggregation-controller")
