"""`kubectl certificate approve` as a new user meets it: a CertificateSigningRequest for the
kube-apiserver-client signer, approved, gives a certificate the API server accepts for that
user and group."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Node
from tests.e2e.test_lifecycle import unique, wait_for

pytestmark = pytest.mark.e2e


def test_certificate_approve_gives_a_working_user_certificate(node: Node,
                                                               tmp_path: Path) -> None:
    user, name = unique("carol"), unique("csr")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev"),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": base64.b64encode(request).decode(), "expirationSeconds": 86400,
                 "signerName": "kubernetes.io/kube-apiserver-client",
                 "usages": ["client auth"]}}))
    try:
        assert "Pending" in node.kubectl("get", "csr", name).stdout
        out = node.kubectl("certificate", "approve", name).stdout
        assert f"certificatesigningrequest.certificates.k8s.io/{name} approved" in out
        cert = wait_for(lambda: node.kubectl("get", "csr", name, "-o",
                                             "jsonpath={.status.certificate}").stdout, 20,
                        "the certificate")
        assert "Approved,Issued" in node.kubectl("get", "csr", name).stdout
        (tmp_path / "user.crt").write_bytes(base64.b64decode(cert))
        (tmp_path / "user.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        config = tmp_path / "kubeconfig"
        shutil.copy(node.kubeconfig, config)
        node.kubectl("--kubeconfig", str(config), "config", "set-credentials", user,
                     f"--client-certificate={tmp_path / 'user.crt'}",
                     f"--client-key={tmp_path / 'user.key'}", "--embed-certs")
        node.kubectl("--kubeconfig", str(config), "config", "set-context", "--current",
                     f"--user={user}")
        whoami = node.kubectl("--kubeconfig", str(config), "auth", "whoami").stdout
        assert user in whoami and "dev" in whoami
        refused = node.kubectl("--kubeconfig", str(config), "get", "secrets", check=False)
        assert f'User "{user}" cannot list resource "secrets"' in refused.stderr
    finally:
        node.kubectl("delete", "csr", name, "--ignore-not-found")


def test_api_services_list_the_local_groups(node: Node) -> None:
    out = node.kubectl("get", "apiservices").stdout.splitlines()
    assert out[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split()[1:3] for line in out[1:]}
    for name in ("v1.", "v1.apps", "v2.autoscaling", "v1.policy", "v1beta1.metrics.k8s.io"):
        assert rows[name] == ["Local", "True"], name
    refused = node.kubectl("delete", "apiservice", "v1.apps", check=False)
    assert refused.returncode != 0
