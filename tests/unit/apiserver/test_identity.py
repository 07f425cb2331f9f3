"""Authentication, impersonation, authorization, TokenRequest and the reviews through the
in-process API server; Secrets encrypted at rest; state file modes."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podhost import statefiles
from podhost.apiserver.app import ApiServer
from podhost.apiserver.http import Response
from podhost.store.encryption import PREFIX, load_or_create
from podhost.store.sqlite import Store
from tests.unit.apiserver.helpers import call, make_api, request

ALICE_CERT = {"subject": ((("organizationName", "dev"),), (("commonName", "alice"),))}


def run(api: ApiServer, method: str, target: str, body: Any = None, **kw: Any
        ) -> tuple[int, Any]:
    return asyncio.run(call(api, method, target, body, **kw))


def as_alice(api: ApiServer, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    import json
    req = request(method, target, body, token=None)
    req.peer_cert = ALICE_CERT
    resp = asyncio.run(api.handle(req))
    assert isinstance(resp, Response)
    return resp.status, json.loads(resp.body)


def binding(name: str, role: str, kind: str, subject: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"kind": kind, "name": subject, "apiGroup": "rbac.authorization.k8s.io"}]}


RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    server = make_api(tmp_path)
    yield server
    server.store.close()  # no sqlite file descriptors left for the garbage collector


def test_unknown_credentials_get_401(api: ApiServer) -> None:
    for token in ("wrong", "a.b.c"):
        code, status = run(api, "GET", "/api/v1/namespaces/default/pods", token=token)
        assert (code, status["reason"], status["message"]) == (401, "Unauthorized",
                                                               "Unauthorized")


def test_certificate_user_needs_a_binding(api: ApiServer) -> None:
    code, status = as_alice(api, "GET", "/api/v1/namespaces/default/pods")
    assert code == 403 and status["message"] == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the '
        'namespace "default"')
    assert run(api, "POST", RB, binding("dev-view", "view", "Group", "dev"))[0] == 201
    assert as_alice(api, "GET", "/api/v1/namespaces/default/pods")[0] == 200
    who = {"Impersonate-User": "bob", "Impersonate-Group": "dev"}  # kubectl --as --as-group
    assert run(api, "GET", "/api/v1/namespaces/default/pods", headers=who)[0] == 200
    code, answer = run(api, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {},
                       headers=who)
    assert answer["status"]["userInfo"] == {"username": "bob", "groups": [
        "dev", "system:authenticated"]}
    assert run(api, "GET", "/api/v1/namespaces/default/pods",
               headers={"Impersonate-User": "bob"})[0] == 403
    code, status = as_alice(api, "GET", "/api/v1/namespaces/default/secrets/x")
    assert code == 403 and status["details"] == {"name": "x", "kind": "secrets"}
    code, status = as_alice(api, "POST", RB, binding("mine", "cluster-admin", "User", "alice"))
    assert code == 403 and "forbidden" in status["message"]


def test_impersonation_and_access_reviews(api: ApiServer) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": "default", "verb": "list",
                                              "resource": "pods"}}}
    target = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    sa = {"Impersonate-User": "system:serviceaccount:default:default"}
    code, answer = run(api, "POST", target, review, headers=sa)
    assert (code, answer["status"]) == (201, {"allowed": False})
    run(api, "POST", RB, {**binding("sa", "view", "ServiceAccount", "default"),
                          "subjects": [{"kind": "ServiceAccount", "name": "default"}]})
    assert run(api, "POST", target, review, headers=sa)[1]["status"] == {"allowed": True}
    code, status = as_alice(api, "POST", target, review)
    assert code == 201 and status["status"] == {"allowed": False}  # basic-user: may ask
    req = request("GET", "/api/v1/namespaces/default/pods", token=None,
                  headers={"Impersonate-User": "bob"})
    req.peer_cert = ALICE_CERT
    resp = asyncio.run(api.handle(req))
    assert isinstance(resp, Response) and resp.status == 403
    assert b'users \\"bob\\" is forbidden: User \\"alice\\" cannot impersonate' in resp.body
    code, rules = run(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                      {"spec": {"namespace": "default"}}, headers=sa)
    assert code == 201 and {"verbs": ["get", "list", "watch"], "apiGroups": [""],
                            "resources": ["namespaces"]} in rules["status"]["resourceRules"]
    code, who = run(api, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
    assert who["status"]["userInfo"]["groups"] == ["system:masters", "system:authenticated"]


def test_token_request_and_bound_pod(api: ApiServer) -> None:
    sa = "/api/v1/namespaces/default/serviceaccounts/default/token"
    code, tr = run(api, "POST", sa, {"spec": {"expirationSeconds": 100}})
    assert code == 422 and tr["message"].endswith(
        "may not specify a duration less than 10 minutes")
    code, tr = run(api, "POST", sa, {"spec": {}})
    assert code == 201 and tr["spec"]["expirationSeconds"] == 3600
    token = tr["status"]["token"]
    assert run(api, "GET", "/api/v1/namespaces/default/pods", token=token)[0] == 403
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    code, created = run(api, "POST", "/api/v1/namespaces/default/pods", pod)
    assert code == 201
    assert created["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    code, tr = run(api, "POST", sa, {"spec": {"boundObjectRef": {
        "kind": "Pod", "apiVersion": "v1", "name": "p"}}})
    bound = tr["status"]["token"]
    code, who = run(api, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {},
                    token=bound)
    assert who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    api.store.delete("pods", "default", "p")
    assert run(api, "GET", "/api/v1/namespaces/default/pods", token=bound)[0] == 401
    assert run(api, "GET", "/openid/v1/jwks", token=token)[0] == 200  # system:serviceaccounts


def test_missing_service_account_refused(api: ApiServer) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"serviceAccountName": "robot", "containers": [{"name": "c",
                                                                   "image": "busybox"}]}}
    code, status = run(api, "POST", "/api/v1/namespaces/default/pods", pod)
    assert (code, status["reason"]) == (403, "Forbidden")


def test_rbac_validation(api: ApiServer) -> None:
    bad = {**binding("x/y", "view", "Group", "dev")}
    bad["roleRef"] = {**bad["roleRef"], "kind": "Nope"}
    code, status = run(api, "POST", RB, bad)
    assert code == 422 and [c["field"] for c in status["details"]["causes"]] == [
        "metadata.name", "roleRef.kind"]


def test_secrets_encrypted_at_rest(tmp_path: Path) -> None:
    cipher = load_or_create(tmp_path / "keys")
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o600
    plain = Store(tmp_path / "db")
    plain.create("secrets", {"metadata": {"name": "old", "namespace": "default"},
                             "data": {"k": "b2xk"}})
    plain.close()
    store = Store(tmp_path / "db", cipher)  # rewrites what was stored in plain
    store.create("secrets", {"metadata": {"name": "s", "namespace": "default"},
                             "data": {"k": "dmFsdWU="}})
    rows = store.db.execute("SELECT data FROM objects WHERE resource='secrets'").fetchall()
    assert len(rows) == 2 and all(r[0].startswith(PREFIX) for r in rows)
    assert store.get("secrets", "default", "s")["data"] == {"k": "dmFsdWU="}
    assert [o["metadata"]["name"] for o in store.list("secrets")[0]] == ["old", "s"]
    assert b"dmFsdWU" not in (tmp_path / "db").read_bytes() + \
        (tmp_path / "db-wal").read_bytes()
    # rotation: a new first key; the old one still decrypts until everything is rewritten
    keys = (tmp_path / "keys").read_text()
    (tmp_path / "keys").write_text("key2:" + "A" * 43 + "=\n" + keys)
    store.close()
    rotated = Store(tmp_path / "db", load_or_create(tmp_path / "keys"))
    rows = rotated.db.execute("SELECT data FROM objects WHERE resource='secrets'").fetchall()
    assert all(r[0].startswith(PREFIX + "key2:") for r in rows)
    assert rotated.get("secrets", "default", "old")["data"] == {"k": "b2xk"}
    rotated.close()


def test_state_file_modes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "pki").mkdir(parents=True)
    (root / "podhost.db").write_text("x")
    os.chmod(root / "podhost.db", 0o644)
    os.chmod(root, 0o755)
    assert {p.name for p, _, _ in statefiles.loose(root)} == {"podhost.db", "pki", "root"}
    assert len(statefiles.fix(root)) == 3 and statefiles.loose(root) == []
    assert stat.S_IMODE(os.stat(root / "podhost.db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o711
    assert stat.S_IMODE(os.stat(root / "runtime").st_mode) == 0o700


@pytest.mark.parametrize("line", ["nocolon", "k:notbase64!", "k:QQ=="])
def test_bad_key_files_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "keys").write_text(line + "\n")
    with pytest.raises(OSError, match="expected NAME:BASE64"):
        load_or_create(tmp_path / "keys")


def test_projected_token_kept_until_80_percent(api: ApiServer) -> None:
    now = [1_000_000.0]
    api.tokens.clock = lambda: now[0]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    _, created = run(api, "POST", "/api/v1/namespaces/default/pods", pod)
    first = api.tokens.pod_token(created, "", 3607)
    now[0] += 2800  # < 80% of 3607 s
    assert api.tokens.pod_token(created, "", 3607) == first
    now[0] += 200  # > 80%: a new token
    second = api.tokens.pod_token(created, "", 3607)
    assert second != first
    assert api.tokens.authenticate(second) is not None
    with pytest.raises(LookupError):
        api.tokens.pod_token({**created, "spec": {"serviceAccountName": "gone"},
                              "metadata": {**created["metadata"], "uid": "other"}}, "", 3607)


def test_node_proxy_paths_are_nodes_proxy() -> None:
    """RequestInfoFactory: whatever follows /proxy/ is the subresource nodes/proxy of the
    node (metrics, stats), not a non-resource URL; the volume browser is pods/exec."""
    from podhost.api.rbac import User
    from podhost.apiserver import identity
    from tests.unit.apiserver.helpers import request

    user = User("alice", ("dev",))
    got = identity.attributes(request("GET", "/api/v1/nodes/n1/proxy/stats/summary"), user)
    assert (got.verb, got.resource, got.subresource, got.name, got.resource_request) == (
        "get", "nodes", "proxy", "n1", True)
    # a Pod's volume read from outside needs what exec into that Pod needs
    got = identity.attributes(request("GET", "/api/v1/nodes/n1/proxy/podhost/volumes/ns/p/v/f"),
                              user)
    assert (got.verb, got.resource, got.subresource, got.namespace, got.name) == (
        "create", "pods", "exec", "ns", "p")
    got = identity.attributes(request("POST", "/api/v1/nodes/n1/proxy/metrics"), user)
    assert (got.verb, got.subresource) == ("create", "proxy")
