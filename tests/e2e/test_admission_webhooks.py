"""Dynamic admission against real kubectl: a validating webhook and a mutating webhook
served over HTTPS on 127.0.0.1 by this test (AdmissionReview v1, caBundle), and a
ValidatingAdmissionPolicy with its binding."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
REVIEWS: list[dict[str, Any]] = []


def self_signed(directory: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "tls.crt").write_bytes(pem)
    (directory / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return directory / "tls.crt", directory / "tls.key", pem


def send_json(handler: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        REVIEWS.append(review)
        request = review["request"]
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        obj = request.get("object") or {}
        if self.path.startswith("/validate") and "forbidden" in (obj.get("data") or {}):
            response = {"uid": request["uid"], "allowed": False,
                        "status": {"code": 403, "message": "the key \"forbidden\" is not "
                                                           "allowed here"}}
        elif self.path.startswith("/mutate"):
            patch = [{"op": "add", "path": "/metadata/labels", "value": {
                **((obj.get("metadata") or {}).get("labels") or {}), "mutated-by": "webhook"}}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
            response["warnings"] = ["labelled by the test webhook"]
        send_json(self, {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                         "response": response})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, bytes]]:
    cert, key, pem = self_signed(tmp_path_factory.mktemp("webhook"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], pem
    server.shutdown()


@pytest.fixture(scope="module")
def adm_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("admission") / "root")
    try:
        yield n
    finally:
        stop_node(n)


def _configuration(kind: str, name: str, port: int, pem: bytes, path: str) -> str:
    return json.dumps({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": {"name": name},
        "webhooks": [{
            "name": f"{name}.podhost.test", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "failurePolicy": "Fail",
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}",
                             "caBundle": base64.b64encode(pem).decode()},
            "objectSelector": {"matchLabels": {"webhooks": "on"}},
            "rules": [{"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": [""],
                       "apiVersions": ["v1"], "resources": ["configmaps"]}]}]})


def _configmap(name: str, data: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "labels": {"webhooks": "on"}},
                       "data": data})


def test_validating_webhook_denies_with_its_message(adm_node: Node,
                                                    webhook: tuple[int, bytes]) -> None:
    port, pem = webhook
    adm_node.kubectl("apply", "-f", "-", input=_configuration(
        "ValidatingWebhookConfiguration", "deny-forbidden", port, pem, "/validate"))
    rows = adm_node.kubectl("get", "validatingwebhookconfigurations").stdout.splitlines()
    assert rows[0].split() == ["NAME", "WEBHOOKS", "AGE"]
    assert rows[1].split()[:2] == ["deny-forbidden", "1"]
    denied = adm_node.kubectl("apply", "-f", "-", check=False,
                              input=_configmap("bad", {"forbidden": "x"}))
    assert denied.returncode == 1
    assert ('admission webhook "deny-forbidden.podhost.test" denied the request: the key '
            '"forbidden" is not allowed here') in denied.stderr
    adm_node.kubectl("apply", "-f", "-", input=_configmap("fine", {"ok": "x"}))
    review = REVIEWS[-1]
    adm_node.kubectl("delete", "configmap", "fine")
    assert REVIEWS[-1]["request"]["operation"] == "DELETE"
    assert REVIEWS[-1]["request"]["oldObject"]["metadata"]["name"] == "fine"
    assert review["apiVersion"] == "admission.k8s.io/v1"
    assert review["request"]["operation"] == "CREATE"
    assert review["request"]["resource"] == {"group": "", "version": "v1",
                                             "resource": "configmaps"}
    assert review["request"]["userInfo"]["username"]
    adm_node.kubectl("delete", "validatingwebhookconfiguration", "deny-forbidden")


def test_mutating_webhook_adds_a_label(adm_node: Node, webhook: tuple[int, bytes]) -> None:
    port, pem = webhook
    adm_node.kubectl("apply", "-f", "-", input=_configuration(
        "MutatingWebhookConfiguration", "add-label", port, pem, "/mutate"))
    created = adm_node.kubectl("apply", "-f", "-", input=_configmap("labelled", {"a": "b"}))
    assert "labelled by the test webhook" in created.stderr
    labels = json.loads(adm_node.kubectl("get", "configmap", "labelled", "-o",
                                         "jsonpath={.metadata.labels}").stdout)
    assert labels == {"webhooks": "on", "mutated-by": "webhook"}
    unlabelled = _configmap("plain", {}).replace('"webhooks": "on"', '"webhooks": "off"')
    adm_node.kubectl("apply", "-f", "-", input=unlabelled)
    assert adm_node.kubectl("get", "configmap", "plain", "-o",
                            "jsonpath={.metadata.labels}").stdout == '{"webhooks":"off"}'
    adm_node.kubectl("delete", "mutatingwebhookconfiguration", "add-label")


def test_unreachable_webhook_fails_closed(adm_node: Node, webhook: tuple[int, bytes]) -> None:
    _, pem = webhook
    adm_node.kubectl("apply", "-f", "-", input=_configuration(
        "ValidatingWebhookConfiguration", "gone", 1, pem, "/validate"))
    failed = adm_node.kubectl("apply", "-f", "-", check=False,
                              input=_configmap("nobody", {"a": "b"}))
    assert ('Internal error occurred: failed calling webhook "gone.podhost.test": failed to call '
            'webhook: Post "https://127.0.0.1:1/validate?timeout=10s": connect: connection '
            "refused") in failed.stderr
    adm_node.kubectl("delete", "validatingwebhookconfiguration", "gone")


def test_validating_admission_policy(adm_node: Node) -> None:
    adm_node.kubectl("apply", "-f", "-", input="""\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit.podhost.test}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= 5
    messageExpression: "'replicas must be at most 5, not ' + string(object.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limit-binding}
spec:
  policyName: replica-limit.podhost.test
  validationActions: [Deny]
""")
    deployment = """apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: %d
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers: [{name: c, image: busybox}]
"""
    denied = adm_node.kubectl("apply", "-f", "-", check=False, input=deployment % 7)
    assert ("ValidatingAdmissionPolicy 'replica-limit.podhost.test' with binding "
            "'replica-limit-binding' denied request: replicas must be at most 5, not 7"
            ) in denied.stderr
    adm_node.kubectl("apply", "--dry-run=server", "-f", "-", input=deployment % 2)


def test_policy_with_params_and_warn(adm_node: Node) -> None:
    adm_node.kubectl("apply", "-f", "-", input="""\
apiVersion: v1
kind: ConfigMap
metadata: {name: name-rules}
data: {prefix: "team-"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: name-prefix.podhost.test}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE]
      resources: [secrets]
  validations:
  - expression: object.metadata.name.startsWith(params.data.prefix)
    message: secret names start with the team prefix
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: name-prefix-warn}
spec:
  policyName: name-prefix.podhost.test
  validationActions: [Warn]
  paramRef: {name: name-rules, namespace: default, parameterNotFoundAction: Deny}
""")
    rows = adm_node.kubectl("get", "validatingadmissionpolicybindings").stdout.splitlines()
    assert rows[0].split() == ["NAME", "POLICYNAME", "PARAMREF", "AGE"]
    assert rows[1].split()[:3] == ["name-prefix-warn", "name-prefix.podhost.test",
                                   "default/name-rules"]
    warned = adm_node.kubectl("create", "secret", "generic", "other-secret")
    assert ("Warning: Validation failed for ValidatingAdmissionPolicy 'name-prefix.podhost.test' "
            "with binding 'name-prefix-warn': secret names start with the team prefix"
            ) in warned.stderr
    quiet = adm_node.kubectl("create", "secret", "generic", "team-secret")
    assert "Warning" not in quiet.stderr
