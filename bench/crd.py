#!/usr/bin/env python3
"""What custom resources and admission webhooks cost a write.

  * 1,000 custom resources (a CRD with a structural schema, a default and two CEL rules)
    against 1,000 ConfigMaps, created through one keep-alive HTTPS connection each, interleaved
    in batches of 50 so a busy machine weighs on both alike: total wall time and the ratio
    (target <= 2x)
  * a validating webhook on 127.0.0.1 (HTTPS, keep-alive, allows everything; a lean server
    in this process so that the figure is podhost's): ConfigMap creates it matches
    (objectSelector) against ones it does not, interleaved: p50 of each and the difference
    (target <= 5 ms)

Usage: .venv/bin/python bench/crd.py [--objects 1000] [--webhook-requests 300]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import Node, percentile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.example.com"},
    "spec": {"group": "bench.example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                 "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                     "type": "object", "required": ["color"],
                     "x-kubernetes-validations": [
                         {"rule": "self.replicas <= 10 || self.color == 'gold'",
                          "message": "only gold widgets may have more than 10 replicas"},
                         {"rule": "self.tags.all(t, t.size() < 20)"}],
                     "properties": {
                         "color": {"type": "string", "enum": ["red", "blue", "gold"]},
                         "replicas": {"type": "integer", "minimum": 0, "default": 1},
                         "tags": {"type": "array", "items": {"type": "string"},
                                  "default": []}}}}}}}]}}


def widget(i: int) -> dict[str, Any]:
    return {"apiVersion": "bench.example.com/v1", "kind": "Widget",
            "metadata": {"name": f"w-{i}"},
            "spec": {"color": "red", "replicas": i % 10, "tags": ["a", "b"]}}


def config_map(i: int, prefix: str = "cm", labels: dict[str, str] | None = None
               ) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{prefix}-{i}", "labels": labels or {}},
            "data": {"color": "red", "replicas": str(i % 10)}}


def timed(node: Node, path: str, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    answer = node.request("POST", path, body)
    elapsed = time.perf_counter() - start
    if answer.get("kind") == "Status":
        sys.exit(f"create failed: {answer}")
    return elapsed


def custom_vs_configmaps(node: Node, objects: int) -> None:
    node.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    deadline = time.monotonic() + 30
    while node.request("GET", "/apis/bench.example.com/v1").get("kind") != "APIResourceList":
        if time.monotonic() > deadline:
            sys.exit("the CRD was not established")
        time.sleep(0.1)
    totals = {"configmaps": 0.0, "widgets": 0.0}
    batch = 50
    for start in range(0, objects, batch):
        for i in range(start, min(start + batch, objects)):
            totals["configmaps"] += timed(node, "/api/v1/namespaces/default/configmaps",
                                          config_map(i))
        for i in range(start, min(start + batch, objects)):
            totals["widgets"] += timed(
                node, "/apis/bench.example.com/v1/namespaces/default/widgets", widget(i))
    print(f"| {objects} ConfigMaps | {totals['configmaps']:.2f} s | "
          f"{totals['configmaps'] / objects * 1000:.2f} ms |")
    print(f"| {objects} Widgets (schema, default, 2 CEL rules) | {totals['widgets']:.2f} s | "
          f"{totals['widgets'] / objects * 1000:.2f} ms |")
    print(f"ratio custom resources / ConfigMaps: "
          f"**{totals['widgets'] / totals['configmaps']:.2f} x** (target <= 2 x)")


def allow(review: dict[str, Any]) -> bytes:
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "response": {"uid": review["request"]["uid"], "allowed": True}}).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def serve_connection(conn: ssl.SSLSocket) -> None:
    """A keep-alive HTTP/1.1 connection answered in one write per response, as a webhook
    built on Go's net/http answers (Python's http.server parses headers with the email
    package and would be most of the measurement)."""
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(buffer) < length:
                buffer += conn.recv(65536)
            body, buffer = buffer[:length], buffer[length:]
            conn.sendall(allow(json.loads(body)))


def serve_webhook(directory: Path) -> tuple[int, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-webhook")])
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
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = context.wrap_socket(conn, server_side=True)
            threading.Thread(target=serve_connection, args=(tls,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], pem


def webhook_round_trip(node: Node, requests: int) -> None:
    port, pem = serve_webhook(Path(tempfile.mkdtemp(prefix="podhost-bench-webhook-")))
    node.request("POST", "/apis/admissionregistration.k8s.io/v1/"
                 "validatingwebhookconfigurations", {
                     "metadata": {"name": "bench"},
                     "webhooks": [{
                         "name": "bench.podhost.test", "admissionReviewVersions": ["v1"],
                         "sideEffects": "None",
                         "clientConfig": {"url": f"https://127.0.0.1:{port}/validate",
                                          "caBundle": base64.b64encode(pem).decode()},
                         "objectSelector": {"matchLabels": {"hooked": "yes"}},
                         "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                                    "apiVersions": ["v1"], "resources": ["configmaps"]}]}]})
    plain: list[float] = []
    hooked: list[float] = []
    for i in range(requests):
        plain.append(timed(node, "/api/v1/namespaces/default/configmaps",
                           config_map(i, "plain")) * 1000)
        hooked.append(timed(node, "/api/v1/namespaces/default/configmaps",
                            config_map(i, "hooked", {"hooked": "yes"})) * 1000)
    p50_plain, p50_hooked = percentile(plain, 50), percentile(hooked, 50)
    print(f"| ConfigMap create, no webhook matches | {p50_plain:.2f} ms | "
          f"{percentile(plain, 99):.2f} ms |")
    print(f"| ConfigMap create through the validating webhook | {p50_hooked:.2f} ms | "
          f"{percentile(hooked, 99):.2f} ms |")
    print(f"webhook round trip adds **{p50_hooked - p50_plain:.2f} ms** p50 (target <= 5 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--webhook-requests", type=int, default=300)
    args = parser.parse_args()
    node = Node(("--pod-cidr", "none"))
    try:
        print("| writes | total | per object |\n|---|---|---|")
        custom_vs_configmaps(node, args.objects)
        print("\n| writes | p50 | p99 |\n|---|---|---|")
        webhook_round_trip(node, args.webhook_requests)
    finally:
        node.close()


if __name__ == "__main__":
    main()
