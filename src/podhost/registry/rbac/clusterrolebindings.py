"""ClusterRoleBindings (pkg/registry/rbac/clusterrolebinding): to a ClusterRole."""

from podhost.registry.rbac.authorization import BindingStrategy

strategy = BindingStrategy(("ClusterRole",))
