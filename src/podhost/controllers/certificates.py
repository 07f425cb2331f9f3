"""The certificate signing controllers (pkg/controller/certificates/signer): an approved
CertificateSigningRequest for `kubernetes.io/kube-apiserver-client` is signed with the node's
CA (a `Signer` handed in by `podhost serve`: controllers do not hold the CA) and the certificate
written to its status; a request the signer may not sign (its usages) gets the Failed
condition. Other signers' requests are left to them, as upstream."""

from __future__ import annotations

import base64
import copy
from typing import Protocol

from podhost.api import csr
from podhost.api.storage import ObjectStore
from podhost.controllers import workload as w
from podhost.controllers.controller import Controller, Watch
from podhost.registry.client import Client

RESOURCE = "certificatesigningrequests"


class Signer(Protocol):
    def __call__(self, request_pem: bytes, seconds: int | None) -> bytes:
        """A client certificate (PEM) for the request."""


class CertificateSigner(Controller):
    name = "csrsigning-controller"

    def __init__(self, store: ObjectStore | Client, signer: Signer) -> None:
        super().__init__(store)
        self.signer = signer

    def watches(self) -> list[Watch]:
        return [Watch(RESOURCE, w.own_key)]

    def reconcile(self, key: str) -> float | None:
        obj = w.get(self.store, RESOURCE, key)
        if obj is None:
            return None
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        conditions = csr.condition_types(obj)
        if spec.get("signerName") != csr.CLIENT_SIGNER or status.get("certificate") or \
                "Approved" not in conditions or "Denied" in conditions or \
                "Failed" in conditions:
            return None
        new = copy.deepcopy(obj)
        refusal = csr.signer_refusal(obj)
        if refusal is not None:
            csr.with_condition(new, "Failed", "SignerValidationFailure", refusal)
        else:
            pem = self.signer(base64.b64decode(spec["request"]), spec.get("expirationSeconds"))
            new["status"]["certificate"] = base64.b64encode(pem).decode()
        self.store.update_status(RESOURCE, new,
                                 expected_rv=obj["metadata"].get("resourceVersion"))
        return None
