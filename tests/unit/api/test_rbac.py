"""RBAC evaluation as upstream's authorizer does it, table-tested: rule matching, subjects,
aggregation, the 403 text and the escalation check; ServiceAccount tokens and admission."""

from __future__ import annotations

import base64
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from podhost.api import errors, rbac, rbacpolicy, satoken, serviceaccount
from podhost.api.rbac import Attributes, User

SA = User("system:serviceaccount:default:default",
          ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"))
ALICE = User("alice", ("dev", "system:authenticated"))


def binding(kind: str, role: str, subject: dict[str, str], ns: str = "") -> dict[str, object]:
    meta = {"name": f"b-{role}", **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole" if kind ==
                        "ClusterRoleBinding" or role in ("view", "edit", "admin") else "Role",
                        "name": role}, "subjects": [subject]}


def policy(*bindings: dict[str, object], roles: list[dict[str, object]] | None = None
           ) -> rbac.Policy:
    cluster = [b for b in bindings if b["kind"] == "ClusterRoleBinding"]
    ns = [b for b in bindings if b["kind"] == "RoleBinding"]
    return rbac.build_policy(rbacpolicy.cluster_roles(), roles or [],
                             rbacpolicy.cluster_role_bindings() + cluster, ns)


SA_VIEW = binding("RoleBinding", "view", {"kind": "ServiceAccount", "name": "default"},
                  "default")
DEV_EDIT = binding("RoleBinding", "edit", {"kind": "Group", "name": "dev",
                                           "apiGroup": rbac.GROUP}, "default")
SECRET_ROLE = {"kind": "Role", "metadata": {"name": "one-secret", "namespace": "default"},
               "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"],
                          "resourceNames": ["db"]}]}
ONE_SECRET = binding("RoleBinding", "one-secret", {"kind": "User", "name": "alice",
                                                   "apiGroup": rbac.GROUP}, "default")


def a(user: User, verb: str, resource: str = "", ns: str = "default", name: str = "",
      sub: str = "", group: str = "", path: str = "") -> Attributes:
    if path:
        return Attributes(user, verb, False, path=path)
    return Attributes(user, verb, True, group, resource, sub, ns, name)


CASES = [
    ("no binding: nothing", [], a(SA, "list", "pods"), False),
    ("view lists pods", [SA_VIEW], a(SA, "list", "pods"), True),
    ("view watches pods", [SA_VIEW], a(SA, "watch", "pods"), True),
    ("view reads logs", [SA_VIEW], a(SA, "get", "pods", name="p", sub="log"), True),
    ("view cannot read secrets", [SA_VIEW], a(SA, "get", "secrets", name="s"), False),
    ("view cannot exec", [SA_VIEW], a(SA, "create", "pods", name="p", sub="exec"), False),
    ("view only in its namespace", [SA_VIEW], a(SA, "list", "pods", ns="other"), False),
    ("view cannot write", [SA_VIEW], a(SA, "delete", "pods", name="p"), False),
    ("view reads deployments", [SA_VIEW], a(SA, "list", "deployments", group="apps"), True),
    ("group edit reads secrets", [DEV_EDIT], a(ALICE, "get", "secrets", name="s"), True),
    ("group edit execs", [DEV_EDIT], a(ALICE, "create", "pods", name="p", sub="exec"), True),
    ("group edit, no roles", [DEV_EDIT], a(ALICE, "create", "roles", group=rbac.GROUP), False),
    ("resourceNames match", [ONE_SECRET], a(ALICE, "get", "secrets", name="db"), True),
    ("resourceNames other", [ONE_SECRET], a(ALICE, "get", "secrets", name="x"), False),
    ("resourceNames list", [ONE_SECRET], a(ALICE, "list", "secrets"), False),
    ("discovery for everyone", [], a(SA, "get", path="/apis/apps/v1"), True),
    ("self reviews for everyone", [],
     a(SA, "create", "selfsubjectaccessreviews", ns="", group="authorization.k8s.io"), True),
    ("no other paths", [], a(SA, "get", path="/metrics"), False),
    ("issuer discovery for SAs", [], a(SA, "get", path="/openid/v1/jwks"), True),
    ("issuer discovery not users", [], a(ALICE, "get", path="/openid/v1/jwks"), False),
    ("masters", [], a(User("root", ("system:masters",)), "delete", "nodes", ns=""), True),
]


@pytest.mark.parametrize("bindings,attrs,allowed", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_authorize(bindings: list[dict[str, object]], attrs: Attributes, allowed: bool) -> None:
    assert rbac.authorize(policy(*bindings, roles=[SECRET_ROLE]), attrs) is allowed


def test_star_subresource_and_url_prefix() -> None:
    rule = {"verbs": ["get"], "apiGroups": ["*"], "resources": ["*/status"]}
    assert rbac.rule_allows(a(ALICE, "get", "pods", sub="status"), rule)
    assert not rbac.rule_allows(a(ALICE, "get", "pods"), rule)
    url = {"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}
    assert rbac.rule_allows(a(ALICE, "get", path="/logs/x"), url)
    assert not rbac.rule_allows(a(ALICE, "get", path="/log"), url)


def test_aggregation_picks_up_labelled_roles() -> None:
    extra = {"metadata": {"name": "crd-viewer", "labels": {
        "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}]}
    rules = rbac.aggregated_rules([*rbacpolicy.cluster_roles(), extra])
    for role in ("view", "edit", "admin"):  # admin ⊇ edit ⊇ view
        assert extra["rules"][0] in rules[role]
    assert not any("secrets" in r.get("resources", []) for r in rules["view"])


@pytest.mark.parametrize("attrs,message", [
    (a(SA, "list", "pods"), 'pods is forbidden: User "system:serviceaccount:default:default" '
     'cannot list resource "pods" in API group "" in the namespace "default"'),
    (a(ALICE, "get", "nodes", ns="", name="n1"), 'nodes "n1" is forbidden: User "alice" cannot '
     'get resource "nodes" in API group "" at the cluster scope'),
    (a(ALICE, "create", "pods", name="p", sub="exec"), 'pods "p" is forbidden: User "alice" '
     'cannot create resource "pods/exec" in API group "" in the namespace "default"'),
    (a(ALICE, "list", "deployments", group="apps"), 'deployments.apps is forbidden: User '
     '"alice" cannot list resource "deployments" in API group "apps" in the namespace "default"'),
    (a(ALICE, "get", path="/metrics"), 'User "alice" cannot get path "/metrics"'),
])
def test_forbidden_message(attrs: Attributes, message: str) -> None:
    assert rbac.forbidden_message(attrs).endswith(message)


def test_forbidden_message_of_a_path_has_no_resource() -> None:
    """kube-apiserver: NewForbidden of an empty GroupResource says `forbidden: …`."""
    assert rbac.forbidden_message(a(ALICE, "get", path="/metrics")) == \
        'forbidden: User "alice" cannot get path "/metrics"'


def test_escalation_covers() -> None:
    p = policy(DEV_EDIT)
    held = list(rbac.rules_for(p, ALICE, "default"))
    assert rbac.uncovered(held, p.cluster_roles["view"]) == []
    missing = rbac.uncovered(held, [{"verbs": ["get", "list"], "apiGroups": [""],
                                     "resources": ["nodes", "pods"]}])
    assert [m["resources"] + m["verbs"] for m in missing] == [["nodes", "get"],
                                                              ["nodes", "list"]]
    assert "not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\"]}" \
        in rbac.escalation_message(ALICE, missing)


# -- tokens ---------------------------------------------------------------------------------
KEY = ec.generate_private_key(ec.SECP256R1())
BINDING = satoken.Binding("default", "default", "sa-uid", "p", "pod-uid", "node", "node-uid")


def test_token_round_trip_and_claims() -> None:
    token = satoken.sign(KEY, satoken.Claims(BINDING, (satoken.ISSUER,), 1000, 4600))
    claims = satoken.verify(token, KEY.public_key(), 2000)
    assert claims is not None and claims.binding == BINDING
    assert claims.username == "system:serviceaccount:default:default"
    body = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert body["kubernetes.io"]["pod"] == {"name": "p", "uid": "pod-uid"}
    assert (body["iss"], body["exp"], body["sub"]) == (satoken.ISSUER, 4600, claims.username)


def test_token_refusals() -> None:
    token = satoken.sign(KEY, satoken.Claims(BINDING, (satoken.ISSUER,), 1000, 4600))
    other = ec.generate_private_key(ec.SECP256R1())
    assert satoken.verify(token, other.public_key(), 2000) is None  # another key
    assert satoken.verify(token, KEY.public_key(), 4600 + satoken.LEEWAY + 1) is None  # expired
    assert satoken.verify(token, KEY.public_key(), 2000, audiences=("vault",)) is None
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert satoken.verify(f"{head}.{forged}.{sig}", KEY.public_key(), 2000) is None
    none = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert satoken.verify(f"{none}.{body}.", KEY.public_key(), 2000) is None
    assert satoken.verify("garbage", KEY.public_key(), 2000) is None
    assert satoken.expiration_error(100) == "may not specify a duration less than 10 minutes"


def test_jwks_describes_the_key() -> None:
    jwk = satoken.jwk(KEY.public_key())
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == (
        "EC", "P-256", "ES256", satoken.key_id(KEY.public_key()))


# -- the ServiceAccount admission -----------------------------------------------------------
def pod(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "i"}], **spec}}


def test_admission_adds_the_api_access_volume() -> None:
    p = pod()
    serviceaccount.admit(p, {"metadata": {"name": "default"}}, "default", random.Random(1))
    spec = p["spec"]
    assert isinstance(spec, dict)
    volume = spec["volumes"][-1]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    assert [list(s) for s in volume["projected"]["sources"]] == [
        ["serviceAccountToken"], ["configMap"], ["downwardAPI"]]
    for c in spec["containers"] + spec["initContainers"]:
        assert c["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
                                      "mountPath": serviceaccount.MOUNT_PATH}]


@pytest.mark.parametrize("pod_value,sa_value,mounted", [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True)])
def test_automount(pod_value: bool | None, sa_value: bool | None, mounted: bool) -> None:
    p = pod(**({} if pod_value is None else {"automountServiceAccountToken": pod_value}))
    sa = {"metadata": {"name": "default"},
          **({} if sa_value is None else {"automountServiceAccountToken": sa_value})}
    serviceaccount.admit(p, sa, "default")
    assert bool(p["spec"].get("volumes")) is mounted  # type: ignore[attr-defined]


def test_missing_service_account_is_refused() -> None:
    with pytest.raises(errors.ForbiddenError) as e:
        serviceaccount.admit(pod(serviceAccountName="robot"), None, "default")
    assert e.value.message == ('pods "p" is forbidden: error looking up service account '
                               'default/robot: serviceaccount "robot" not found')
