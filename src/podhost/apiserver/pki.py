"""The node's credentials: a CA, a serving certificate, an admin client certificate and a token.

Made once on first start under `<root>/pki` (keys and token mode 0600), reused afterwards.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from podhost.statefiles import write_private

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def client_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def client_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def token_file(self) -> Path:
        return self.dir / "token"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def encryption_keys(self) -> Path:
        return self.dir / "encryption-keys"

    def token(self) -> str:
        return self.token_file.read_text().strip()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
             ) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + VALIDITY))


def _make_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("podhost-ca")
    cert = (_builder(name, name, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    write_private(pki.ca_key, _key_pem(key))
    pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _issue(pki: Pki, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], subject: x509.Name,
           usage: x509.ObjectIdentifier, sans: list[x509.GeneralName] | None,
           cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(subject, ca[1].subject, key)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca[0], hashes.SHA256())
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# how Pods reach the API server through the `kubernetes` Service (in-cluster clients check them)
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")


def _server_sans(extra_hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("podhost"),
                                     *(x509.DNSName(n) for n in SERVICE_NAMES),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    for host in [socket.gethostname(), *extra_hosts]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return list(dict.fromkeys(names))


def ensure_pki(directory: Path, extra_hosts: list[str] | None = None) -> Pki:
    """Create the CA, certificates and token if missing; return their paths."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if pki.ca_cert.exists() and pki.server_cert.exists() and pki.token_file.exists():
        wanted = _server_sans(extra_hosts or [])
        cert = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        try:
            have = list(cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            have = []
        if pki.ca_key.exists() and not set(wanted) <= set(have):  # new names: issue again
            _issue(pki, _load_ca(pki), _name("podhost-apiserver"),
                   ExtendedKeyUsageOID.SERVER_AUTH, list(dict.fromkeys(have + wanted)),
                   pki.server_cert, pki.server_key)
        return pki
    ca = _make_ca(pki)
    _issue(pki, ca, _name("podhost-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
           _server_sans(extra_hosts or []), pki.server_cert, pki.server_key)
    _issue(pki, ca, _name("podhost-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH,
           None, pki.client_cert, pki.client_key)
    write_private(pki.token_file, (secrets.token_urlsafe(32) + "\n").encode())
    return pki


def ensure_service_account_key(pki: Pki) -> ec.EllipticCurvePrivateKey:
    """The ServiceAccount token signing key (made on first use, mode 0600)."""
    if not pki.service_account_key.exists():
        write_private(pki.service_account_key, _key_pem(ec.generate_private_key(ec.SECP256R1())))
    key = serialization.load_pem_private_key(pki.service_account_key.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise OSError(f"{pki.service_account_key}: not an EC private key")
    return key


def _load_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise OSError(f"{pki.ca_key}: not an EC private key")
    return key, x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())


def user_credentials(pki: Pki, user: str, groups: list[str],
                     validity: datetime.timedelta = datetime.timedelta(days=365)
                     ) -> tuple[bytes, bytes]:
    """A client certificate of the node's CA for `user` (CN) in `groups` (O), as
    `kubeadm kubeconfig user` makes one; returns (certificate PEM, key PEM)."""
    ca_key, ca_cert = _load_ca(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def server_context(pki: Pki) -> ssl.SSLContext:
    """TLS 1.2+, HTTP/1.1 only, client certificates from our CA accepted (not required)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


CLIENT_SIGNING_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration


def sign_client_csr(pki: Pki, request_pem: bytes, seconds: int | None = None) -> bytes:
    """The kube-apiserver-client signer: a client certificate of the node's CA for the
    CertificateSigningRequest's subject (CN the user, O the groups) and public key, valid for
    `expirationSeconds` (at most the signing duration); returns the certificate PEM."""
    ca_key, ca_cert = _load_ca(pki)
    csr = x509.load_pem_x509_csr(request_pem)
    validity = CLIENT_SIGNING_DURATION if seconds is None else \
        min(CLIENT_SIGNING_DURATION, datetime.timedelta(seconds=seconds))
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)
