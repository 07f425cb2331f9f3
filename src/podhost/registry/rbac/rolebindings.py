"""RoleBindings (pkg/registry/rbac/rolebinding): to a Role or a ClusterRole."""

from podhost.registry.rbac.authorization import BindingStrategy

strategy = BindingStrategy(("Role", "ClusterRole"))
