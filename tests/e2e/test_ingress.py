"""Ingress with real kubectl and curl, as a new user tries it: two apps behind one Ingress at
`http://a.localhost/` and `http://b.localhost/api/`, HTTPS with a `kubernetes.io/tls` Secret
checked with `curl --cacert`, an edited Ingress taking effect within 2 s, a NotReady Pod
getting no requests, reloads under a concurrent client loop dropping nothing, the proxy
restarted when it dies, and `podhost down` leaving nothing listening. The node's proxy listens
on free ports of 127.0.0.1 (`--ingress-http-port`, `--ingress-https-port`); curl resolves
`*.localhost` to loopback by itself."""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podhost.network import haproxy
from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import PODHOST, Node, free_port, start_node, stop_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inode(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("ingress") / "root"
    http, https = free_port(), free_port()
    n = start_node(root, ["--registries-conf", str(registries_conf),
                          "--ingress-http-port", str(http), "--ingress-https-port", str(https)])
    n.http, n.https = http, https  # type: ignore[attr-defined]
    for name in ("busybox", "nginx"):
        n.podhost("images", "load", str(TEST_IMAGES / f"{name}.oci.tar"))
    try:
        yield n
    finally:
        n.kubectl("delete", "pods", "--all", "--wait=true", "--timeout=60s", check=False,
                  timeout=90)
        n.process.send_signal(signal.SIGTERM)  # as `podhost down` does
        n.process.wait(timeout=60)
        stopped = not haproxy.running(root / "ingress")
        stop_node(n)
    # the node stopped its proxy: nothing listens on the ingress ports any more
    assert stopped
    for port in (http, https):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


def apply(node: Node, *objects: dict[str, Any]) -> None:
    node.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                        "items": list(objects)}))


def web_pod(name: str, labels: dict[str, str], path: str = "", **container: Any
            ) -> dict[str, Any]:
    html = f"/usr/share/nginx/html{path}"
    script = f"mkdir -p {html}; echo {name} > {html}/index.html; exec nginx -g 'daemon off;'"
    c = {"name": "nginx", "image": "nginx", "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script], "ports": [{"containerPort": 80, "name": "http"}],
         **container}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [c]}}


def service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def path(p: str, svc: str, kind: str = "Prefix") -> dict[str, Any]:
    return {"path": p, "pathType": kind,
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}


def ingress(name: str, rules: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": rules, **spec}}


def curl(url: str, *args: str) -> tuple[int, str]:
    """(HTTP status, body) of one request; status 0 when the connection failed."""
    out = subprocess.run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}", *args, url],
                         capture_output=True, text=True, timeout=10)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body.strip()


def wait_for(predicate: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def apps(inode: Node) -> None:
    apply(inode, web_pod("app-a", {"app": "a"}), web_pod("app-b", {"app": "b"}, "/api"),
          service("a", "a"), service("b", "b"),
          ingress("apps", [{"host": "a.localhost", "http": {"paths": [path("/", "a")]}},
                           {"host": "b.localhost", "http": {"paths": [path("/api", "b")]}}]))
    for name in ("app-a", "app-b"):
        inode.wait_ready(name)


def test_two_apps_answer_by_name_on_localhost(inode: Node, apps: None) -> None:
    http = inode.http  # type: ignore[attr-defined]
    # the Pods are Ready; their endpoints reach the proxy a moment later
    wait_for(lambda: curl(f"http://a.localhost:{http}/") == (200, "app-a"), what="app a")
    wait_for(lambda: curl(f"http://b.localhost:{http}/api/") == (200, "app-b"), what="app b")
    assert curl(f"http://b.localhost:{http}/apixyz")[0] == 404  # element-wise prefix
    assert curl(f"http://b.localhost:{http}/")[0] == 404
    assert curl(f"http://127.0.0.1:{http}/", "-H", "Host: a.localhost") == (200, "app-a")
    wait_for(lambda: "127.0.0.1" in inode.kubectl("get", "ingress", "apps").stdout,
             what="status.loadBalancer")
    lines = inode.kubectl("get", "ingress").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert lines[1].split()[:5] == ["apps", "podhost", "a.localhost,b.localhost", "127.0.0.1",
                                    "80"]
    lines = inode.kubectl("get", "ingressclass").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert lines[1].split()[:3] == ["podhost", "podhost.io/ingress-controller", "<none>"]
    inode.kubectl("create", "ingress", "made", "--rule=made.localhost/*=a:80")  # kubectl's way
    wait_for(lambda: curl(f"http://made.localhost:{http}/") == (200, "app-a"), 10,
             "kubectl create ingress")
    made = json.loads(inode.kubectl("get", "ingress", "made", "-o", "json").stdout)["spec"]
    assert made["rules"][0]["http"]["paths"][0]["pathType"] == "Prefix"
    described = inode.kubectl("describe", "ingress", "apps").stdout
    assert "Ingress Class:    podhost" in described
    assert "a.localhost" in described and "/api" in described and "b:80" in described


def _tls_material(tmp: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), False)
        return b.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = cert("test ca", ca_key, "test ca", ca_key, True)
    leaf = cert("secure.localhost", key, "test ca", ca_key, False)
    paths = tmp / "ca.pem", tmp / "tls.crt", tmp / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return paths


def test_https_with_a_tls_secret(inode: Node, apps: None, tmp_path: Path) -> None:
    https = inode.https  # type: ignore[attr-defined]
    ca, crt, key = _tls_material(tmp_path)
    inode.kubectl("create", "secret", "tls", "secure-tls", f"--cert={crt}", f"--key={key}")
    apply(inode, ingress("secure", [{"host": "secure.localhost",
                                     "http": {"paths": [path("/", "a")]}}],
                         tls=[{"hosts": ["secure.localhost"], "secretName": "secure-tls"}]))
    url = f"https://secure.localhost:{https}/"
    assert wait_for(lambda: curl(url, "--cacert", str(ca)) == (200, "app-a"), 10, "https")
    # the certificate files are root's only, and no key reaches the node's log
    cert_file = inode.root / "ingress" / "certs" / "default_secure-tls.pem"
    assert cert_file.stat().st_mode & 0o777 == 0o600
    assert key.read_text().splitlines()[1] not in inode.log.read_text()
    lines = inode.kubectl("get", "ingress", "secure").stdout.splitlines()
    assert lines[1].split()[4:6] == ["80,", "443"]


def test_an_edited_ingress_takes_effect_within_two_seconds(inode: Node, apps: None) -> None:
    http = inode.http  # type: ignore[attr-defined]
    apply(inode, ingress("edit", [{"host": "edit.localhost",
                                   "http": {"paths": [path("/", "a")]}}]))
    wait_for(lambda: curl(f"http://edit.localhost:{http}/") == (200, "app-a"), 10, "edit")
    start = time.monotonic()
    inode.kubectl("patch", "ingress", "edit", "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/rules/0/http/paths/0/backend/service/name",
         "value": "b"},
        {"op": "replace", "path": "/spec/rules/0/http/paths/0/path", "value": "/api"}]))
    wait_for(lambda: curl(f"http://edit.localhost:{http}/api/") == (200, "app-b"), 2,
             "the edit")
    assert time.monotonic() - start < 2.5  # the patch itself (kubectl's start) included
    assert curl(f"http://edit.localhost:{http}/")[0] == 404


def test_a_not_ready_pod_gets_no_requests(inode: Node, apps: None) -> None:
    http = inode.http  # type: ignore[attr-defined]
    probe = {"readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                                "periodSeconds": 1}}
    apply(inode, web_pod("c-ready", {"app": "c"}), web_pod("c-unready", {"app": "c"}, **probe),
          service("c", "c"),
          ingress("c", [{"host": "c.localhost", "http": {"paths": [path("/", "c")]}}]))
    inode.wait_ready("c-ready")
    wait_for(lambda: inode.kubectl("get", "pod", "c-unready", "-o",
                                   "jsonpath={.status.phase}").stdout == "Running", 60, "run")
    wait_for(lambda: curl(f"http://c.localhost:{http}/") == (200, "c-ready"), 10, "c")
    answers = {curl(f"http://c.localhost:{http}/")[1] for _ in range(20)}
    assert answers == {"c-ready"}
    inode.kubectl("exec", "c-unready", "--", "touch", "/tmp/ready")
    wait_for(lambda: curl(f"http://c.localhost:{http}/")[1] == "c-unready", 20, "both serve")


class Load:
    """Client loops until stopped, counting failures: half send each request on a new
    connection, half keep one connection alive (no retry: an idle connection the proxy closed
    during a reload would be an error)."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port, self.ok, self.failed = port, 0, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i % 2 == 1,))
                        for i in range(threads)]

    def _loop(self, keep_alive: bool) -> None:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/", headers={"Host": "a.localhost"})
                response = conn.getresponse()
                body = response.read().decode().strip()
                if response.status == 200 and body == "app-a":
                    self.ok += 1
                else:
                    self.failed.append(f"{response.status} {body[:40]}")
                if response.getheader("connection", "").lower() == "close" or not keep_alive:
                    conn.close()  # the proxy said so (an old worker), or a new one each time
                else:
                    time.sleep(0.02)  # idle on the kept connection, as a browser is
            except (OSError, http.client.HTTPException) as e:
                self.failed.append(repr(e))
                conn.close()
        conn.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_reloads_under_load_drop_no_request(inode: Node, apps: None) -> None:
    http = inode.http  # type: ignore[attr-defined]
    wait_for(lambda: curl(f"http://a.localhost:{http}/") == (200, "app-a"), 10, "app a")
    pid = haproxy.running(inode.root / "ingress")
    assert pid
    with Load(http) as load:
        for i in range(5):
            apply(inode, ingress("churn", [{"host": f"churn{i}.localhost",
                                            "http": {"paths": [path("/", "b")]}}]))
            wait_for(lambda i=i: curl(f"http://churn{i}.localhost:{http}/api/")[0] == 200,
                     10, f"reload {i}")
    assert load.failed == [] and load.ok > 50, (load.ok, load.failed[:5])
    assert haproxy.running(inode.root / "ingress") == pid  # reloaded, never restarted


def test_a_dead_proxy_is_started_again_and_doctor_reports_the_ports(inode: Node,
                                                                   apps: None) -> None:
    http, https = inode.http, inode.https  # type: ignore[attr-defined]
    pid = haproxy.running(inode.root / "ingress")
    workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in (pid, *map(int, workers)):
        os.kill(p, signal.SIGKILL)
    wait_for(lambda: haproxy.running(inode.root / "ingress") not in (0, pid), 10, "restart")
    wait_for(lambda: curl(f"http://a.localhost:{http}/") == (200, "app-a"), 10, "serving")
    doctor = subprocess.run([PODHOST, "doctor", "--root", str(inode.root)], env=inode.env(),
                            capture_output=True, text=True, timeout=60).stdout
    assert f"127.0.0.1:{http} (http), 127.0.0.1:{https} (https)" in doctor, doctor


def _restart(node: Node, extra: list[str]) -> None:
    """A new `podhost serve` on the node's root, in place of the old one in `node`."""
    new = start_node(node.root, extra)
    node.process, node.port, node.log = new.process, new.port, new.log


def test_kill_9_of_the_node_keeps_serving_and_down_leaves_nothing_listening(
        inode: Node, apps: None, registries_conf: Path) -> None:
    http, https = inode.http, inode.https  # type: ignore[attr-defined]
    extra = ["--registries-conf", str(registries_conf), "--ingress-http-port", str(http),
             "--ingress-https-port", str(https)]
    pid = haproxy.running(inode.root / "ingress")
    inode.process.kill()
    inode.process.wait()
    assert curl(f"http://a.localhost:{http}/") == (200, "app-a")  # the proxy outlives it
    _restart(inode, extra)
    assert haproxy.running(inode.root / "ingress") == pid  # adopted, not replaced
    apply(inode, ingress("after", [{"host": "after.localhost",
                                    "http": {"paths": [path("/", "a")]}}]))
    wait_for(lambda: curl(f"http://after.localhost:{http}/") == (200, "app-a"), 10, "adopted")
    inode.process.kill()
    inode.process.wait()
    down = subprocess.run([PODHOST, "down", "--root", str(inode.root)], env=inode.env(),
                          capture_output=True, text=True, timeout=60)
    assert "stopped the ingress proxy the node left running" in down.stdout, down.stdout
    for port in (http, https):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    _restart(inode, extra)  # for the module's clean-up (its Pods)
