"""The default ClusterRoles and ClusterRoleBindings a cluster starts with, after upstream's
bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go), limited to the
API groups podhost serves. `admin`, `edit` and `view` are aggregated ClusterRoles: their rules
come from `system:aggregate-to-*` and any ClusterRole carrying the same labels."""

from __future__ import annotations

from podhost.api.types import Obj

GROUP = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def url_rule(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


def _role(name: str, rules: list[Obj], labels: dict[str, str] | None = None,
          aggregate_from: str = "") -> Obj:
    role: Obj = {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
                 "metadata": {"name": name, "labels": {**BOOTSTRAP, **(labels or {})},
                              "annotations": dict(AUTOUPDATE)}, "rules": rules}
    if aggregate_from:
        role["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {f"{AGGREGATE}{aggregate_from}": "true"}}]}
    return role


def _binding(name: str, role: str, kind: str, subject: str) -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP),
                         "annotations": dict(AUTOUPDATE)},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": GROUP, "kind": kind, "name": subject}]}


def _view_rules() -> list[Obj]:
    return [
        rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims",
                          "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                          "replicationcontrollers/scale", "serviceaccounts", "services",
                          "services/status"]),
        rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log",
                          "pods/status", "replicationcontrollers/status", "resourcequotas",
                          "resourcequotas/status"]),
        rule(READ, [""], ["namespaces"]),
        rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status",
                              "deployments", "deployments/scale", "deployments/status",
                              "replicasets", "replicasets/scale", "replicasets/status",
                              "statefulsets", "statefulsets/scale", "statefulsets/status"]),
        rule(READ, ["autoscaling"], ["horizontalpodautoscalers",
                                     "horizontalpodautoscalers/status"]),
        rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _edit_rules() -> list[Obj]:
    return [
        rule(["impersonate"], [""], ["serviceaccounts"]),
        rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
        rule(["create"], [""], ["pods/eviction"]),
        rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims",
                           "replicationcontrollers", "replicationcontrollers/scale", "secrets",
                           "serviceaccounts", "services", "services/proxy"]),
        rule(["create"], [""], ["serviceaccounts/token"]),
        rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback",
                               "deployments/scale", "replicasets", "replicasets/scale",
                               "statefulsets", "statefulsets/scale"]),
        rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
        rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
        rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                          "services/proxy"]),
    ]


def _admin_rules() -> list[Obj]:
    return [rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            rule([*READ, *WRITE], [GROUP], ["rolebindings", "roles"])]


DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                  "/openapi/*", "/readyz", "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
ISSUER_URLS = ["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
               "/openid/v1/jwks", "/openid/v1/jwks/"]


def cluster_roles() -> list[Obj]:
    return [
        _role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        _role("admin", [], aggregate_from="admin"),
        _role("edit", [], {f"{AGGREGATE}admin": "true"}, aggregate_from="edit"),
        _role("view", [], {f"{AGGREGATE}edit": "true"}, aggregate_from="view"),
        _role("system:aggregate-to-admin", _admin_rules(), {f"{AGGREGATE}admin": "true"}),
        _role("system:aggregate-to-edit", _edit_rules(), {f"{AGGREGATE}edit": "true"}),
        _role("system:aggregate-to-view", _view_rules(), {f"{AGGREGATE}view": "true"}),
        # what metrics-server installs; podhost serves metrics.k8s.io itself (`kubectl top`)
        _role("system:aggregated-metrics-reader",
              [rule(READ, ["metrics.k8s.io"], ["pods", "nodes"])],
              {f"{AGGREGATE}{r}": "true" for r in ("view", "edit", "admin")}),
        _role("system:discovery", [url_rule(["get"], DISCOVERY_URLS)]),
        _role("system:public-info-viewer", [url_rule(["get"], PUBLIC_URLS)]),
        _role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                                        "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        _role("system:service-account-issuer-discovery", [url_rule(["get"], ISSUER_URLS)]),
    ]


def cluster_role_bindings() -> list[Obj]:
    return [
        _binding("cluster-admin", "cluster-admin", "Group", "system:masters"),
        _binding("system:discovery", "system:discovery", "Group", "system:authenticated"),
        _binding("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
        _binding("system:public-info-viewer", "system:public-info-viewer", "Group",
                 "system:authenticated"),
        _binding("system:service-account-issuer-discovery",
                 "system:service-account-issuer-discovery", "Group", "system:serviceaccounts"),
    ]
