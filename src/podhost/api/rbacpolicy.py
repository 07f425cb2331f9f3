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


RW = sorted([*READ, *WRITE])
EVENTS = rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])
APPROVE_SIGNERS = ("kube-apiserver-client", "kube-apiserver-client-kubelet", "kubelet-serving",
                   "legacy-unknown")


def _named(verbs: list[str], groups: list[str], resources: list[str], names: list[str]) -> Obj:
    return {**rule(verbs, groups, resources), "resourceNames": names}


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
        rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments",
                                    "deployments/scale", "deployments/status", "ingresses",
                                    "ingresses/status", "networkpolicies", "replicasets",
                                    "replicasets/scale", "replicasets/status",
                                    "replicationcontrollers/scale"]),
        rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _edit_rules() -> list[Obj]:
    return [
        rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                          "services/proxy"]),
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
        rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback",
                                     "deployments/scale", "ingresses", "networkpolicies",
                                     "replicasets", "replicasets/scale",
                                     "replicationcontrollers/scale"]),
        rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
        rule(RW, ["coordination.k8s.io"], ["leases"]),
    ]


def _admin_rules() -> list[Obj]:
    return [rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            rule(RW, [GROUP], ["rolebindings", "roles"])]


def _controller_manager_rules() -> list[Obj]:
    return [
        EVENTS,
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        _named(["get", "update"], ["coordination.k8s.io"], ["leases"],
               ["kube-controller-manager"]),
        rule(["create"], [""], ["secrets", "serviceaccounts"]),
        rule(["delete"], [""], ["secrets"]),
        rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
        rule(["update"], [""], ["secrets", "serviceaccounts"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        rule(["list", "watch"], ["*"], ["*"]),
        rule(["create"], [""], ["serviceaccounts/token"]),
    ]


def _scheduler_rules() -> list[Obj]:
    return [
        EVENTS,
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        _named(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
        rule(READ, [""], ["nodes"]),
        rule(["delete", *READ], [""], ["pods"]),
        rule(["create"], [""], ["bindings", "pods/binding"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(READ, [""], ["replicationcontrollers", "services"]),
        rule(READ, ["apps", "extensions"], ["replicasets"]),
        rule(READ, ["apps"], ["statefulsets"]),
        rule(READ, ["policy"], ["poddisruptionbudgets"]),
        rule(READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        rule(READ, ["storage.k8s.io"], ["csinodes"]),
        rule(READ, [""], ["namespaces"]),
        rule(READ, ["storage.k8s.io"], ["csidrivers"]),
        rule(READ, ["storage.k8s.io"], ["csistoragecapacities"]),
    ]


def _node_rules() -> list[Obj]:
    return [
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews",
                                                    "subjectaccessreviews"]),
        rule(READ, [""], ["services"]),
        rule(["create", *READ], [""], ["nodes"]),
        rule(["patch", "update"], [""], ["nodes/status"]),
        rule(["patch", "update"], [""], ["nodes"]),
        rule(["create", "patch", "update"], [""], ["events"]),
        rule(READ, [""], ["pods"]),
        rule(["create", "delete"], [""], ["pods"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(["create"], [""], ["pods/eviction"]),
        rule(READ, [""], ["configmaps", "secrets"]),
        rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
        rule(["get"], [""], ["endpoints"]),
        rule(["create", *READ], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"],
             ["leases"]),
        rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
        rule(["create"], [""], ["serviceaccounts/token"]),
        rule(["get", "patch", "update"], [""], ["persistentvolumeclaims/status"]),
        rule(READ, ["storage.k8s.io"], ["csidrivers"]),
        rule(["create", "delete", "get", "patch", "update"], ["storage.k8s.io"], ["csinodes"]),
        rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
    ]


def _infrastructure_roles() -> list[Obj]:
    """The roles of the components a cluster runs (podhost runs them in-process, with no
    credential of their own, but the roles are the cluster's: bindings may name them)."""
    certificates = "certificates.k8s.io"
    return [
        _role("system:auth-delegator", [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]),
        _role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                                        "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        _role(f"system:{certificates}:certificatesigningrequests:nodeclient", [
            rule(["create"], [certificates], ["certificatesigningrequests/nodeclient"])]),
        _role(f"system:{certificates}:certificatesigningrequests:selfnodeclient", [
            rule(["create"], [certificates], ["certificatesigningrequests/selfnodeclient"])]),
        *(_role(f"system:{certificates}:{signer}-approver", [
            _named(["approve"], [certificates], ["signers"], [f"kubernetes.io/{signer}"])])
          for signer in APPROVE_SIGNERS),
        _role("system:discovery", [url_rule(["get"], DISCOVERY_URLS)]),
        _role("system:heapster", [
            rule(READ, [""], ["events", "namespaces", "nodes", "pods"]),
            rule(READ, ["extensions"], ["deployments"])]),
        _role("system:kube-aggregator", [rule(READ, [""], ["endpoints", "services"])]),
        _role("system:kube-controller-manager", _controller_manager_rules()),
        _role("system:kube-dns", [rule(["list", "watch"], [""], ["endpoints", "services"])]),
        _role("system:kube-scheduler", _scheduler_rules()),
        _role("system:kubelet-api-admin", [
            rule(READ, [""], ["nodes"]), rule(["proxy"], [""], ["nodes"]),
            rule(["*"], [""], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"])]),
        _role("system:monitoring", [url_rule(["get"], MONITORING_URLS)]),
        _role("system:node", _node_rules()),
        _role("system:node-bootstrapper", [
            rule(["create", *READ], [certificates], ["certificatesigningrequests"])]),
        _role("system:node-problem-detector", [
            rule(["get"], [""], ["nodes"]), rule(["patch"], [""], ["nodes/status"]), EVENTS]),
        _role("system:node-proxier", [
            rule(["list", "watch"], [""], ["endpoints", "services"]), rule(READ, [""], ["nodes"]),
            EVENTS, rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])]),
        _role("system:persistent-volume-provisioner", [
            rule(["create", "delete", *READ], [""], ["persistentvolumes"]),
            rule(["get", "list", "update", "watch"], [""], ["persistentvolumeclaims"]),
            rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            rule(["watch"], [""], ["events"]), EVENTS]),
        _role("system:public-info-viewer", [url_rule(["get"], PUBLIC_URLS)]),
        _role("system:service-account-issuer-discovery", [url_rule(["get"], ISSUER_URLS)]),
        _role("system:volume-scheduler", [
            rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumes"]),
            rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            rule(["get", "list", "patch", "update", "watch"], [""],
                 ["persistentvolumeclaims"])]),
    ]


DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                  "/openapi/*", "/readyz", "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
ISSUER_URLS = ["/.well-known/openid-configuration", "/openid/v1/jwks"]
MONITORING_URLS = ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis",
                   "/readyz", "/readyz/*"]


def cluster_roles() -> list[Obj]:
    """Upstream's bootstrap ClusterRoles as testdata/cluster-roles.yaml lists them (1.32), rules
    for resources podhost does not serve included (as upstream keeps them), and the
    aggregated metrics reader metrics-server would install."""
    return [
        _role("admin", [], aggregate_from="admin"),
        _role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        _role("edit", [], {f"{AGGREGATE}admin": "true"}, aggregate_from="edit"),
        _role("system:aggregate-to-admin", _admin_rules(), {f"{AGGREGATE}admin": "true"}),
        _role("system:aggregate-to-edit", _edit_rules(), {f"{AGGREGATE}edit": "true"}),
        _role("system:aggregate-to-view", _view_rules(), {f"{AGGREGATE}view": "true"}),
        *_infrastructure_roles(),
        _role("view", [], {f"{AGGREGATE}edit": "true"}, aggregate_from="view"),
        # what metrics-server installs; podhost serves metrics.k8s.io itself (`kubectl top`)
        _role("system:aggregated-metrics-reader",
              [rule(READ, ["metrics.k8s.io"], ["pods", "nodes"])],
              {f"{AGGREGATE}{r}": "true" for r in ("view", "edit", "admin")}),
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
