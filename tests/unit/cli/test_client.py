import base64
from pathlib import Path

import pytest

from podhost.cli import client
from podhost.cli.errors import CliError, render_status


def kc(name: str, server: str, current: str = "", token: str = "t") -> dict:
    return {"clusters": [{"name": name, "cluster": {
                "server": server,
                "certificate-authority-data": base64.b64encode(b"CA").decode()}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                    "namespace": "ns1"}}],
            "current-context": current}


def test_paths_from_env() -> None:
    assert client.kubeconfig_paths(None, {"KUBECONFIG": "/a:/b"}) == [Path("/a"), Path("/b")]
    assert client.kubeconfig_paths("/x", {"KUBECONFIG": "/a"}) == [Path("/x")]
    assert client.kubeconfig_paths(None, {})[0].name == "config"


def test_merge_first_file_wins() -> None:
    merged = client.merge_kubeconfigs([kc("a", "https://one", "a", "first"),
                                       kc("a", "https://two", "b", "second"),
                                       kc("b", "https://three")])
    assert merged["current-context"] == "a"
    conn = client.resolve(merged)
    assert (conn.server, conn.token, conn.namespace, conn.ca_data) == \
        ("https://one", "first", "ns1", b"CA")
    assert client.resolve(merged, "b", "other").server == "https://three"
    assert client.resolve(merged, "b", "other").namespace == "other"


def test_missing_context() -> None:
    with pytest.raises(CliError, match='context "nope" does not exist'):
        client.resolve(kc("a", "https://x", "a"), "nope")
    with pytest.raises(CliError, match="no context"):
        client.resolve(kc("a", "https://x"))


def test_load_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(
        "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority: ca.crt}}]\n"
        "users: [{name: u, user: {client-certificate: c.crt, client-key: c.key}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
    conn = client.resolve(client.load_kubeconfig([tmp_path / "config", tmp_path / "missing"]))
    assert conn.ca_file == str(tmp_path / "ca.crt")
    assert conn.cert_file == str(tmp_path / "c.crt")
    assert conn.namespace == "default"


def test_request_building() -> None:
    assert client.resource_path("pods", "default", "p", "log") == \
        "/api/v1/namespaces/default/pods/p/log"
    assert client.resource_path("nodes", None) == "/api/v1/nodes"
    assert client.with_query("/x", {"a": True, "b": None, "c": "1 2", "d": False}) == \
        "/x?a=true&c=1+2"
    assert client.auth_headers(client.Connection("s", token="tok")) == \
        {"Authorization": "Bearer tok"}


def test_status_errors_render_like_kubectl() -> None:
    err = client.status_error(404, b'{"kind":"Status","reason":"NotFound","code":404,'
                                   b'"message":"pods \\"x\\" not found"}')
    assert err.render() == 'Error from server (NotFound): pods "x" not found'
    assert err.with_context('error when creating "p.yaml"').render() == \
        'Error from server (NotFound): error when creating "p.yaml": pods "x" not found'
    assert client.status_error(500, b"boom").render() == \
        "Error from server (InternalError): boom"
    invalid = {"kind": "Status", "reason": "Invalid", "code": 422, "details": {
        "name": "bad", "kind": "Pod", "causes": [
            {"field": "spec.containers[0].image", "message": "Required value"},
            {"field": "spec.containers[1].image", "message": "Required value"}]}}
    assert render_status(invalid) == ('The Pod "bad" is invalid:\n'
                                      "* spec.containers[0].image: Required value\n"
                                      "* spec.containers[1].image: Required value")
    assert render_status({"code": 401, "reason": "Unauthorized"}).startswith(
        "error: You must be logged in")
