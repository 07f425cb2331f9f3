"""CertificateSigningRequests through the API: the requester filled in, approval through the
`/approval` subresource, the kube-apiserver-client signer issuing a certificate of the CA."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from podhost.controllers.certificates import CertificateSigner
from podhost.controllers.controller import MANAGER
from podhost.registry.client import Client
from tests.unit.apiserver.helpers import call, make_api

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def request_pem(user: str, group: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, group),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request_pem("alice", "dev")).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client",
                     "usages": ["client auth"], **spec}}


def signed(pem: bytes, seconds: int | None) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\nsigned\n-----END CERTIFICATE-----\n"


def test_approve_and_sign(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, created = await call(api, "POST", CSRS, body("alice", expirationSeconds=3600))
        assert code == 201 and created["spec"]["username"]  # the requester, from the token
        code, table = await call(api, "GET", CSRS, headers={"accept": TABLE})
        cells = table["rows"][0]["cells"]
        assert cells[2:] == ["kubernetes.io/kube-apiserver-client", created["spec"]["username"],
                             "60m", "Pending"]
        approved = {**created, "status": {"conditions": [{
            "type": "Approved", "status": "True", "reason": "KubectlApprove",
            "message": "This CSR was approved by kubectl certificate approve."}]}}
        code, after = await call(api, "PUT", f"{CSRS}/alice/approval", approved)
        assert code == 200 and after["status"]["conditions"][0]["type"] == "Approved"
        both = {**after, "status": {"conditions": [*after["status"]["conditions"], {
            "type": "Denied", "status": "True"}]}}
        code, status = await call(api, "PUT", f"{CSRS}/alice/approval", both)
        assert code == 422 and "mutually exclusive" in status["message"]
        CertificateSigner(Client(api.registry, MANAGER), signed).reconcile("/alice")
        code, done = await call(api, "GET", f"{CSRS}/alice")
        assert base64.b64decode(done["status"]["certificate"]).startswith(b"-----BEGIN")
        code, table = await call(api, "GET", CSRS, headers={"accept": TABLE})
        assert table["rows"][0]["cells"][-1] == "Approved,Issued"
    asyncio.run(go())


def test_invalid_requests(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, status = await call(api, "POST", CSRS, body("bad", request="bm90IGEgY3Ny"))
        assert code == 422 and "PEM block type must be CERTIFICATE REQUEST" in status["message"]
        code, status = await call(api, "POST", CSRS, body("short", expirationSeconds=60))
        assert code == 422 and "may not specify a duration less than 600 seconds" in \
            status["message"]
        code, created = await call(api, "POST", CSRS, body("server", usages=["server auth"]))
        approved = {**created, "status": {"conditions": [{"type": "Approved",
                                                          "status": "True"}]}}
        await call(api, "PUT", f"{CSRS}/server/approval", approved)
        CertificateSigner(Client(api.registry, MANAGER), signed).reconcile("/server")
        code, failed = await call(api, "GET", f"{CSRS}/server")
        assert failed["status"]["conditions"][-1]["reason"] == "SignerValidationFailure"
        assert "certificate" not in failed["status"]
    asyncio.run(go())


def test_api_service_of_a_local_group() -> None:
    from datetime import datetime, timezone

    from podhost.api import apiservices
    service = apiservices.local("autoscaling", "v2")
    assert service["metadata"]["name"] == "v2.autoscaling"
    assert service["spec"] == {"group": "autoscaling", "version": "v2",
                               "groupPriorityMinimum": 17500, "versionPriority": 30}
    assert apiservices.cells(service, datetime.now(timezone.utc))[1:3] == ["Local", "True"]
