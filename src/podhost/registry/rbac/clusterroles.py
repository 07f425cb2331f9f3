"""ClusterRoles (pkg/registry/rbac)."""

from podhost.registry.rbac.authorization import RoleStrategy

strategy = RoleStrategy()
