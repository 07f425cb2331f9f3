"""The ingress controller's model built from API objects (pure): which Ingresses are served,
ready endpoints only, Service ports by number or name, the oldest defaultBackend, TLS Secrets
that hold a usable pair, and the status written back."""

from __future__ import annotations

import base64
from typing import Any

from podhost.api import ingress as ingressapi
from podhost.network.haproxy import self_signed_pem
from podhost.network.ingress import Backend, Route, Server
from podhost.node.ingress import Objects, build_model, served_ingresses, tls_pem, wanted_status


def meta(name: str, ns: str = "default", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, **extra}


def ing(name: str, created: str = "2026-01-01T00:00:00Z", **spec: Any) -> dict[str, Any]:
    return {"metadata": meta(name, creationTimestamp=created), "spec": spec}


def backend(svc: str, number: int = 0, name: str = "") -> dict[str, Any]:
    return {"service": {"name": svc, "port": {"number": number} if number else {"name": name}}}


def objects(*ingresses: dict[str, Any], secrets: tuple[dict[str, Any], ...] = ()) -> Objects:
    o = Objects.empty()
    c = ingressapi.podhost_class()
    o.classes[("", "podhost")] = {**c, "metadata": {**c["metadata"],
                                                   "creationTimestamp": "2026-01-01T00:00:00Z"}}
    o.classes[("", "other")] = {"metadata": {"name": "other"},
                                "spec": {"controller": "example.com/other"}}
    o.services[("default", "web")] = {"metadata": meta("web"), "spec": {
        "clusterIP": "10.96.0.5", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    o.slices[("default", "web-abc")] = {
        "metadata": meta("web-abc", labels={"kubernetes.io/service-name": "web"}),
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": True}},
                      {"addresses": ["10.244.0.6"], "conditions": {"ready": False}}]}
    for i in ingresses:
        o.ingresses[("default", i["metadata"]["name"])] = i
    for s in secrets:
        o.secrets[("default", s["metadata"]["name"])] = s
    return o


def rule(host: str, path: str, b: dict[str, Any], kind: str = "Prefix") -> dict[str, Any]:
    return {"host": host, "http": {"paths": [{"path": path, "pathType": kind, "backend": b}]}}


def test_served_ingresses_by_class_annotation_and_default() -> None:
    mine = ing("mine", ingressClassName="podhost")
    other = ing("other", ingressClassName="other")
    legacy = ing("legacy")
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "podhost"}
    classless = ing("classless", "2025-01-01T00:00:00Z")
    names = [i["metadata"]["name"] for i in served_ingresses(objects(mine, other, legacy,
                                                                     classless))]
    assert names == ["classless", "legacy", "mine"]  # oldest first


def test_routes_go_to_ready_endpoints_by_port_number_or_name() -> None:
    model, files = build_model(objects(
        ing("a", ingressClassName="podhost", rules=[rule("a.localhost", "/", backend("web", 80)),
                                                    rule("", "/x", backend("web", name="http"),
                                                         "Exact")],
            defaultBackend=backend("missing", 80))), "127.0.0.1", 80, 443)
    assert model.routes == (Route("a.localhost", "/", False, "default_web_80"),
                            Route("", "/x", True, "default_web_http"))
    assert Backend("default_web_80", (Server("10.244.0.5", 8080),)) in model.backends
    assert Backend("default_web_http", (Server("10.244.0.5", 8080),)) in model.backends
    assert model.default_backend == "default_missing_80"
    assert Backend("default_missing_80", ()) in model.backends  # 503 until it exists
    assert files == {}


def test_the_oldest_default_backend_wins_and_resource_backends_are_skipped() -> None:
    old = ing("old", "2026-01-01T00:00:00Z", ingressClassName="podhost",
              defaultBackend=backend("web", 80))
    new = ing("new", "2026-02-01T00:00:00Z", ingressClassName="podhost",
              defaultBackend=backend("other", 80),
              rules=[rule("r.localhost", "/", {"resource": {"kind": "Bucket", "name": "b"}})])
    model, _ = build_model(objects(new, old), "127.0.0.1", 80, 0)
    assert model.default_backend == "default_web_80" and model.routes == ()


def secret(name: str, pem: bytes, kind: str = "kubernetes.io/tls") -> dict[str, Any]:
    cert, _, key = pem.partition(b"-----BEGIN PRIVATE KEY-----")
    return {"metadata": meta(name), "type": kind,
            "data": {"tls.crt": base64.b64encode(cert).decode(),
                     "tls.key": base64.b64encode(b"-----BEGIN PRIVATE KEY-----" + key).decode()}}


def test_tls_secrets_with_a_usable_pair_become_certificate_files() -> None:
    pem = self_signed_pem("s.localhost")
    good, opaque = secret("good", pem), secret("opaque", pem, "Opaque")
    broken = secret("broken", b"garbage")
    i = ing("s", ingressClassName="podhost", rules=[rule("s.localhost", "/", backend("web", 80))],
            tls=[{"hosts": ["s.localhost"], "secretName": "good"},
                 {"hosts": ["o.localhost"], "secretName": "opaque"},
                 {"hosts": ["b.localhost"], "secretName": "broken"},
                 {"hosts": ["m.localhost"], "secretName": "missing"}])
    model, files = build_model(objects(i, secrets=(good, opaque, broken)), "127.0.0.1", 80, 443)
    assert [(c.file, c.hosts) for c in model.certs] == [("default_good.pem", ("s.localhost",))]
    assert b"BEGIN CERTIFICATE" in files["default_good.pem"]
    assert b"PRIVATE KEY" in files["default_good.pem"]
    assert tls_pem(opaque) is None and tls_pem(None) is None


def test_status_names_the_address() -> None:
    assert wanted_status({"status": {}}, "127.0.0.1") == {
        "loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
