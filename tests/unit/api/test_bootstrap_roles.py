"""The bootstrap ClusterRoles are upstream's (testdata/cluster-roles.yaml of 1.32)."""

from __future__ import annotations

from podhost.api import rbacpolicy

UPSTREAM_NAMES = [
    "admin", "cluster-admin", "edit", "system:aggregate-to-admin", "system:aggregate-to-edit",
    "system:aggregate-to-view", "system:auth-delegator", "system:basic-user",
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    "system:certificates.k8s.io:kube-apiserver-client-approver",
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
    "system:certificates.k8s.io:kubelet-serving-approver",
    "system:certificates.k8s.io:legacy-unknown-approver", "system:discovery", "system:heapster",
    "system:kube-aggregator", "system:kube-controller-manager", "system:kube-dns",
    "system:kube-scheduler", "system:kubelet-api-admin", "system:monitoring", "system:node",
    "system:node-bootstrapper", "system:node-problem-detector", "system:node-proxier",
    "system:persistent-volume-provisioner", "system:public-info-viewer",
    "system:service-account-issuer-discovery", "system:volume-scheduler", "view"]


def roles() -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["metadata"]["name"]: r for r in rbacpolicy.cluster_roles()}


def test_every_upstream_role_in_its_order() -> None:
    names = [r["metadata"]["name"] for r in rbacpolicy.cluster_roles()]
    assert names == [*UPSTREAM_NAMES, "system:aggregated-metrics-reader"]
    for role in rbacpolicy.cluster_roles():
        assert role["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert role["metadata"]["annotations"] == {
            "rbac.authorization.kubernetes.io/autoupdate": "true"}


def test_edit_has_leases_and_the_legacy_extensions_rules() -> None:
    rules = roles()["system:aggregate-to-edit"]["rules"]
    assert rules[-1] == {"verbs": ["create", "delete", "deletecollection", "get", "list",
                                   "patch", "update", "watch"],
                         "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}
    assert any(r["apiGroups"] == ["extensions"] for r in rules)
    assert len(rules) == 13


def test_signer_approvers_name_their_signer() -> None:
    role = roles()["system:certificates.k8s.io:kubelet-serving-approver"]
    assert role["rules"] == [{"verbs": ["approve"], "apiGroups": ["certificates.k8s.io"],
                              "resources": ["signers"],
                              "resourceNames": ["kubernetes.io/kubelet-serving"]}]
    assert len(roles()["system:node"]["rules"]) == 22
    assert len(roles()["system:kube-scheduler"]["rules"]) == 18
