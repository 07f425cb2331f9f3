"""certificates.k8s.io/v1 CertificateSigningRequests, pure (pkg/apis/certificates/validation,
pkg/registry/certificates): validation, the requester's identity on create, the conditions the
`/approval` subresource may change, the kube-apiserver-client signer's checks, and kubectl's
columns (NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from cryptography import x509

from podhost.api import columns as cols
from podhost.api import errors, meta
from podhost.api.errors import FieldError
from podhost.api.types import Obj

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
USAGES = ["any", "cert sign", "client auth", "code signing", "content commitment", "crl sign",
          "data encipherment", "decipher only", "digital signature", "email protection",
          "encipher only", "ipsec end system", "ipsec tunnel", "ipsec user", "key agreement",
          "key encipherment", "microsoft sgc", "netscape sgc", "ocsp signing", "s/mime",
          "server auth", "signing", "timestamping"]
CLIENT_USAGES = {"digital signature", "key encipherment", "client auth"}
CONDITIONS = ["Approved", "Denied", "Failed"]
COLUMNS = (cols.NAME, cols.AGE,
           ("SignerName", "string", "", 0, "Only retrieve certificates with the signer name"),
           ("Requestor", "string", "", 0, "Name of the user that requested the certificate"),
           ("RequestedDuration", "string", "", 0, "Requested certificate duration"),
           ("Condition", "string", "", 0, "Condition of the certificate request"))


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def parse_request(spec: Obj) -> x509.CertificateSigningRequest:
    """The PEM CERTIFICATE REQUEST in spec.request (base64 on the wire); ValueError."""
    try:
        pem = base64.b64decode(str(spec.get("request") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST") from None
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    return x509.load_pem_x509_csr(pem)


def validate(csr: Obj) -> list[FieldError]:
    spec = _dict(csr.get("spec"))
    errs: list[FieldError] = []
    if not spec.get("request"):
        errs.append(errors.required("spec.request", ""))
    else:
        try:
            parse_request(spec)
        except ValueError as e:
            errs.append(errors.invalid("spec.request", "", str(e)))
    if not spec.get("signerName"):
        errs.append(errors.required("spec.signerName", ""))
    usages = spec.get("usages") or []
    if not usages:
        errs.append(errors.required("spec.usages", ""))
    for i, usage in enumerate(usages):
        if usage not in USAGES:
            errs.append(errors.not_supported(f"spec.usages[{i}]", usage, USAGES))
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < 600:
        errs.append(errors.invalid("spec.expirationSeconds", seconds, "may not specify a "
                                   "duration less than 600 seconds (10 minutes)"))
    return errs + validate_conditions(csr)


def validate_conditions(csr: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, cond in enumerate(_dict(csr.get("status")).get("conditions") or []):
        kind = _dict(cond).get("type")
        path = f"status.conditions[{i}]"
        if kind in seen:
            errs.append(errors.duplicate(f"{path}.type", kind))
        seen.add(str(kind))
        if not kind:
            errs.append(errors.required(f"{path}.type", ""))
        if kind in ("Approved", "Denied") and _dict(cond).get("status") != "True":
            errs.append(errors.not_supported(f"{path}.status", _dict(cond).get("status"),
                                             ["True"]))
    if {"Approved", "Denied"} <= seen:
        errs.append(errors.invalid("status.conditions", "Approved and Denied",
                                   "Approved and Denied conditions are mutually exclusive"))
    return errs


def approval_errors(new: Obj, old: Obj) -> list[FieldError]:
    """An approval may not remove an Approved or Denied condition."""
    errs = validate_conditions(new)
    kept = {c.get("type") for c in _dict(new.get("status")).get("conditions") or []}
    for i, cond in enumerate(_dict(old.get("status")).get("conditions") or []):
        if cond.get("type") in ("Approved", "Denied") and cond.get("type") not in kept:
            errs.append(errors.forbidden(f"status.conditions[{i}]", "updates may not remove a "
                                         f"condition of type \"{cond.get('type')}\""))
    return errs


def set_requester(csr: Obj, name: str, groups: list[str], uid: str) -> None:
    """The registry fills in who asked (PrepareForCreate)."""
    spec = csr.setdefault("spec", {})
    spec["username"], spec["groups"] = name, groups
    if uid:
        spec["uid"] = uid
    else:
        spec.pop("uid", None)


def condition_types(csr: Obj) -> list[str]:
    return [str(c.get("type")) for c in _dict(csr.get("status")).get("conditions") or []]


def signer_refusal(csr: Obj) -> str | None:
    """Why the kube-apiserver-client signer will not sign (usages), or None."""
    usages = set(_dict(csr.get("spec")).get("usages") or [])
    if "client auth" not in usages or not usages <= CLIENT_USAGES:
        return ("invalid usage for client certificate: " + ", ".join(sorted(usages)))
    return None


def with_condition(csr: Obj, kind: str, reason: str, message: str) -> Obj:
    now = meta.rfc3339()
    status = _dict(csr.get("status"))
    status.setdefault("conditions", []).append({
        "type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": now})
    csr["status"] = status
    return csr


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int):
        return "<none>"
    return meta.human_age(seconds)


def cells(csr: Obj, now: datetime) -> list[Any]:
    spec = _dict(csr.get("spec"))
    conditions = condition_types(csr)
    if _dict(csr.get("status")).get("certificate"):
        conditions.append("Issued")
    return [csr["metadata"]["name"], cols.age(csr, now), spec.get("signerName", ""),
            spec.get("username", ""), _duration(spec.get("expirationSeconds")),
            ",".join(conditions) or "Pending"]
