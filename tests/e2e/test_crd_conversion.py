"""CRD conversion strategy Webhook against real kubectl: a ConversionReview v1 webhook served
over HTTPS on 127.0.0.1 by this test renames `spec.colour` (v1, the storage version) to
`spec.color` (v2); objects written at either version are stored at v1 and read at both."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import Node, start_node, stop_node
from tests.e2e.test_admission_webhooks import self_signed, send_json

pytestmark = pytest.mark.e2e
REVIEWS: list[dict[str, Any]] = []


def _convert(obj: dict[str, Any], desired: str) -> dict[str, Any]:
    spec = dict(obj.get("spec") or {})
    if desired.endswith("/v2") and "colour" in spec:
        spec["color"] = spec.pop("colour")
    elif desired.endswith("/v1") and "color" in spec:
        spec["colour"] = spec.pop("color")
    return {**obj, "apiVersion": desired, "spec": spec}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        REVIEWS.append(review)
        request = review["request"]
        objects = request["objects"]
        refused = [o["metadata"]["name"] for o in objects if o["metadata"]["name"] == "refuse"]
        result = {"status": "Failure", "message": "the test webhook refuses refuse"} \
            if refused else {"status": "Success"}
        send_json(self, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                         "response": {"uid": request["uid"], "result": result,
                                      "convertedObjects": [] if refused else [
                                          _convert(o, request["desiredAPIVersion"])
                                          for o in objects]}})

    def log_message(self, *args: Any) -> None:
        pass


def _crd(port: int, pem: bytes) -> str:
    def version(name: str, field: str, storage: bool) -> dict[str, Any]:
        return {"name": name, "served": True, "storage": storage, "schema": {
            "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "properties": {field: {"type": "string"}}}}}}}
    return json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.conv.example.com"},
        "spec": {"group": "conv.example.com", "scope": "Namespaced",
                 "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                 "versions": [version("v1", "colour", True), version("v2", "color", False)],
                 "conversion": {"strategy": "Webhook", "webhook": {
                     "conversionReviewVersions": ["v1"],
                     "clientConfig": {"url": f"https://127.0.0.1:{port}/convert",
                                      "caBundle": base64.b64encode(pem).decode()}}}}})


@pytest.fixture(scope="module")
def conv_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    cert, key, pem = self_signed(tmp_path_factory.mktemp("convert"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    n = start_node(tmp_path_factory.mktemp("conversion") / "root")
    try:
        n.kubectl("apply", "-f", "-", input=_crd(server.server_address[1], pem))
        n.kubectl("wait", "--for=condition=Established", "crd/things.conv.example.com",
                  "--timeout=30s")
        yield n
    finally:
        stop_node(n)
        server.shutdown()


def _thing(name: str, version: str, field: str, value: str) -> str:
    return json.dumps({"apiVersion": f"conv.example.com/{version}", "kind": "Thing",
                       "metadata": {"name": name, "labels": {"app": "conv"}},
                       "spec": {field: value}})


def _get(node: Node, version: str, name: str) -> dict[str, Any]:
    out = node.kubectl("get", f"things.{version}.conv.example.com", name, "-o", "json")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_written_at_either_version_read_at_both(conv_node: Node) -> None:
    conv_node.kubectl("create", "-f", "-", input=_thing("one", "v1", "colour", "red"))
    conv_node.kubectl("create", "-f", "-", input=_thing("two", "v2", "color", "blue"))
    for name, value in (("one", "red"), ("two", "blue")):
        at_v1, at_v2 = _get(conv_node, "v1", name), _get(conv_node, "v2", name)
        assert (at_v1["apiVersion"], at_v1["spec"]) == ("conv.example.com/v1",
                                                        {"colour": value})
        assert (at_v2["apiVersion"], at_v2["spec"]) == ("conv.example.com/v2",
                                                        {"color": value})
        assert at_v1["metadata"] == at_v2["metadata"]
    # `kubectl get thing` reads the preferred version, v2: a list converted item by item
    listed = json.loads(conv_node.kubectl("get", "things", "-o", "json").stdout)
    assert [(i["apiVersion"], i["spec"]) for i in listed["items"]] == [
        ("conv.example.com/v2", {"color": "red"}), ("conv.example.com/v2", {"color": "blue"})]
    watched = conv_node.kubectl("get", "--raw", "/apis/conv.example.com/v2/namespaces/default/"
                                "things?watch=true&timeoutSeconds=1&fieldSelector="
                                "metadata.name%3Done").stdout
    assert json.loads(watched.splitlines()[0])["object"]["spec"] == {"color": "red"}
    reviews = [r["request"] for r in REVIEWS]
    assert {"desiredAPIVersion": "conv.example.com/v1"}.items() <= reviews[0].items()
    assert all(r["uid"] for r in reviews)


def test_patch_at_the_other_version(conv_node: Node) -> None:
    conv_node.kubectl("create", "-f", "-", input=_thing("three", "v1", "colour", "red"))
    conv_node.kubectl("patch", "things.v2.conv.example.com", "three", "--type=merge", "-p",
                      '{"spec":{"color":"gold"}}')
    assert _get(conv_node, "v1", "three")["spec"] == {"colour": "gold"}


def test_apply_at_v2_client_and_server_side(conv_node: Node) -> None:
    for value in ("red", "blue"):  # the second apply patches through a v2 view of v1
        conv_node.kubectl("apply", "-f", "-", input=_thing("four", "v2", "color", value))
        assert _get(conv_node, "v1", "four")["spec"] == {"colour": value}
    conv_node.kubectl("apply", "--server-side", "-f", "-",
                      input=_thing("five", "v2", "color", "gold"))
    assert _get(conv_node, "v1", "five")["spec"] == {"colour": "gold"}
    assert _get(conv_node, "v2", "five")["spec"] == {"color": "gold"}
    rows = conv_node.kubectl("get", "things").stdout.splitlines()
    assert rows[0].split() == ["NAME", "AGE"] and any(r.split()[0] == "five" for r in rows)


def test_webhook_failure_is_the_request_error(conv_node: Node) -> None:
    bad = conv_node.kubectl("create", "-f", "-", check=False,
                            input=_thing("refuse", "v2", "color", "red"))
    assert bad.returncode != 0
    assert ("conversion webhook for conv.example.com/v2, Kind=Thing failed: the test webhook "
            "refuses refuse") in bad.stderr


def test_crd_validation(conv_node: Node) -> None:
    crd = json.loads(_crd(1, b"x"))
    crd["metadata"]["name"] = crd["spec"]["names"]["plural"] = "others"
    crd["metadata"]["name"] = "others.conv.example.com"
    crd["spec"]["names"].update(singular="other", kind="Other")
    del crd["spec"]["conversion"]["webhook"]["clientConfig"]
    bad = conv_node.kubectl("create", "-f", "-", check=False, input=json.dumps(crd))
    assert ('The CustomResourceDefinition "others.conv.example.com" is invalid: '
            "spec.conversion.webhookClientConfig: Required value: required when strategy is "
            "set to Webhook") in bad.stderr
