"""Services and cluster DNS with real kubectl, as a new user tries them: two nginx Pods behind
a Service reached from a client Pod by name, nslookup of Services, a headless Service's Pods and
kubernetes.default, a Pod that stops being ready leaving the EndpointSlice, a NodePort on the
host's 127.0.0.1, `kubectl port-forward svc/...`, and bad input refused in the API server's
words. Traffic goes only to loopback and to the Pods and Service addresses of the node's own
bridge. The node gets a service range of its own (outside 10.96.0.0/12), so that other nodes
on the machine never see its addresses."""

from __future__ import annotations

import json
import random
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podhost.network.services import table_name
from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, free_port, start_node, stop_node

pytestmark = pytest.mark.e2e

SERVICE_CIDR = f"10.127.{random.randint(1, 250)}.0/24"
PREFIX = SERVICE_CIDR.rsplit(".", 1)[0]


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def snode(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("services") / "root"
    n = start_node(root, ["--registries-conf", str(registries_conf),
                          "--service-cidr", SERVICE_CIDR])
    for name in ("busybox", "nginx"):
        n.podhost("images", "load", str(TEST_IMAGES / f"{name}.oci.tar"))
    try:
        yield n
    finally:
        n.kubectl("delete", "pods", "--all", "--wait=true", "--timeout=60s", check=False,
                  timeout=90)
        stop_node(n)
    # nothing left to serve: the node's Service table went with it
    assert table_name(str(root.resolve())) not in nft_tables()


def apply(node: Node, *objects: dict[str, Any]) -> None:
    node.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                        "items": list(objects)}))


def web_pod(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    script = (f"echo {name} > /usr/share/nginx/html/index.html; "
              "exec nginx -g 'daemon off;'")
    container = {"name": "nginx", "image": "nginx", "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", script],
                 "ports": [{"containerPort": 80, "name": "http"}]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [container], **spec}}


def busybox_pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [container], **spec}}


def service(name: str, selector: dict[str, str] | None, port: int = 80,
            target: int | str = "http", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"name": "http", "port": port, "targetPort": target}],
                            **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def get(node: Node, *args: str) -> Any:
    return json.loads(node.kubectl("get", *args, "-o", "json").stdout)


def fetch(node: Node, client: str, url: str) -> str:
    # busybox wget: no -T (it segfaults with a timeout)
    return node.kubectl("exec", client, "--", "wget", "-qO-", url).stdout.strip()


def wait_for(predicate: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def web(snode: Node) -> dict[str, Any]:
    """web-1, web-2 (nginx answering their names) behind Service `web`, and a client Pod."""
    apply(snode, web_pod("web-1", {"app": "web"}), web_pod("web-2", {"app": "web"}),
          service("web", {"app": "web"}), busybox_pod("client"))
    for name in ("web-1", "web-2", "client"):
        snode.wait_ready(name)
    return dict(get(snode, "service", "web"))


def test_a_service_is_reached_by_name_with_both_backends_answering(snode: Node,
                                                                  web: dict[str, Any]) -> None:
    ip = web["spec"]["clusterIP"]
    assert ip.startswith(PREFIX)
    assert web["spec"]["type"] == "ClusterIP" and web["spec"]["ports"][0]["protocol"] == "TCP"
    seen = set()
    for _ in range(40):
        seen.add(fetch(snode, "client", "http://web"))
        if seen == {"web-1", "web-2"}:
            break
    assert seen == {"web-1", "web-2"}
    assert fetch(snode, "client", "http://web.default.svc.cluster.local") in seen
    resolv = snode.kubectl("exec", "client", "--", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {PREFIX}.10" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "options ndots:5" in resolv
    env = snode.kubectl("exec", "client", "--", "env").stdout.split()
    assert f"WEB_SERVICE_HOST={ip}" in env and "WEB_SERVICE_PORT_HTTP=80" in env
    assert f"KUBERNETES_SERVICE_HOST={PREFIX}.1" in env
    table = snode.kubectl("get", "svc", "web").stdout
    assert f"web    ClusterIP   {ip}" in table and "80/TCP" in table
    slices = get(snode, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert len(slices) == 1 and slices[0]["ports"] == [{"name": "http", "port": 80,
                                                        "protocol": "TCP"}]
    assert len(slices[0]["endpoints"]) == 2


def nslookup(node: Node, name: str) -> str:
    return node.kubectl("exec", "client", "--", "nslookup", name).stdout


def test_nslookup_of_services_headless_pods_and_kubernetes_default(snode: Node,
                                                                  web: dict[str, Any]) -> None:
    assert web["spec"]["clusterIP"] in nslookup(snode, "web.default.svc.cluster.local")
    assert f"Address: {PREFIX}.1" in nslookup(snode, "kubernetes.default.svc.cluster.local")
    # the libc resolver (search path, ndots:5) finds the short names
    got = snode.kubectl("exec", "web-1", "--", "getent", "hosts", "kubernetes.default").stdout
    assert got.split()[0] == f"{PREFIX}.1"
    apply(snode, service("db", {"app": "db"}, clusterIP="None"),
          *[busybox_pod(f"db-{i}", {"app": "db"}, hostname=f"db-{i}", subdomain="db",
                        container={"ports": [{"containerPort": 80, "name": "http"}]})
            for i in range(2)])
    ips = set()
    for i in range(2):
        snode.wait_ready(f"db-{i}")
        ips.add(snode.kubectl("get", "pod", f"db-{i}", "-o", "jsonpath={.status.podIP}").stdout)
    out = wait_for(lambda: (o := nslookup(snode, "db.default.svc.cluster.local")) and
                   all(ip in o for ip in ips) and o, what="both Pods of the headless Service")
    assert all(f"Address: {ip}" in out for ip in ips)
    one = nslookup(snode, "db-0.db.default.svc.cluster.local")
    assert "Name:\tdb-0.db.default.svc.cluster.local" in one
    failed = snode.kubectl("exec", "client", "--", "nslookup", "nope.default.svc.cluster.local",
                           check=False)
    assert failed.returncode != 0 and "NXDOMAIN" in failed.stdout


def test_a_pod_that_stops_being_ready_leaves_the_service(snode: Node,
                                                         web: dict[str, Any]) -> None:
    probe = {"readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                                "periodSeconds": 1, "failureThreshold": 1}}
    script = ("touch /tmp/ready; echo {n} > /usr/share/nginx/html/index.html; "
              "exec nginx -g 'daemon off;'")
    pods = [web_pod(n, {"app": "ready"}, container={**probe, "command": [
        "sh", "-c", script.format(n=n)]}) for n in ("ready-a", "ready-b")]
    apply(snode, *pods, service("ready", {"app": "ready"}))
    for n in ("ready-a", "ready-b"):
        snode.wait_ready(n)
    ip_a = snode.kubectl("get", "pod", "ready-a", "-o", "jsonpath={.status.podIP}").stdout

    def condition_of_a() -> Any:
        items = get(snode, "endpointslices", "-l", "kubernetes.io/service-name=ready")["items"]
        return {e["addresses"][0]: e["conditions"]["ready"]
                for s in items for e in s["endpoints"]}.get(ip_a)

    wait_for(lambda: condition_of_a() is True, what="ready-a ready in the slice")
    snode.kubectl("exec", "ready-a", "--", "rm", "/tmp/ready")
    wait_for(lambda: condition_of_a() is False, what="ready-a not ready in the slice")
    time.sleep(0.5)  # the node's rules follow the slice
    answers = {fetch(snode, "client", "http://ready") for _ in range(12)}
    assert answers == {"ready-b"}
    endpoints = get(snode, "endpoints", "ready")["subsets"][0]
    assert [a["ip"] for a in endpoints["notReadyAddresses"]] == [ip_a]


def test_a_service_without_endpoints_refuses_at_once(snode: Node, web: dict[str, Any]) -> None:
    apply(snode, service("nobody", {"app": "nobody"}))
    time.sleep(0.5)
    start = time.monotonic()
    result = snode.kubectl("exec", "client", "--", "wget", "-qO-", "http://nobody", check=False)
    assert result.returncode != 0 and "Connection refused" in result.stderr
    assert time.monotonic() - start < 5


def test_a_node_port_answers_on_the_hosts_loopback(snode: Node, web: dict[str, Any]) -> None:
    apply(snode, service("web-np", {"app": "web"}, type="NodePort"))
    port = get(snode, "service", "web-np")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767

    def answer() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
                return str(r.read().decode().strip())
        except OSError:
            return ""

    assert wait_for(answer, 10, "the NodePort") in ("web-1", "web-2")
    assert f"80:{port}/TCP" in snode.kubectl("get", "svc", "web-np").stdout


def test_session_affinity_keeps_a_client_on_one_backend(snode: Node,
                                                        web: dict[str, Any]) -> None:
    apply(snode, service("sticky", {"app": "web"}, sessionAffinity="ClientIP"))
    svc = get(snode, "service", "sticky")
    assert svc["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    wait_for(lambda: fetch(snode, "client", "http://sticky"), 10, "the Service")
    assert len({fetch(snode, "client", "http://sticky") for _ in range(10)}) == 1


def test_a_selectorless_service_with_a_hand_written_slice(snode: Node,
                                                         web: dict[str, Any]) -> None:
    ip = snode.kubectl("get", "pod", "web-2", "-o", "jsonpath={.status.podIP}").stdout
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "manual-1",
                           "labels": {"kubernetes.io/service-name": "manual"}},
              "addressType": "IPv4", "ports": [{"name": "http", "port": 80}],
              "endpoints": [{"addresses": [ip]}]}
    apply(snode, service("manual", None, target=80), slice_)
    assert wait_for(lambda: fetch(snode, "client", "http://manual"), 10, "the Service") \
        == "web-2"
    bad = dict(slice_, metadata={"name": "manual-2"}, endpoints=[{"addresses": ["web-2"]}])
    result = snode.kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
    assert 'endpoints[0].addresses[0]: Invalid value: "web-2": must be a valid IPv4 address' \
        in result.stderr


def test_a_pod_reaches_itself_through_its_service(snode: Node, web: dict[str, Any]) -> None:
    """Hairpin: the Service's one endpoint is the client."""
    serve = ("mkdir -p /www && echo self > /www/index.html && httpd -p 8080 -h /www && "
             "trap 'exit 0' TERM; sleep 3600 & wait")
    apply(snode, busybox_pod("selfish", {"app": "selfish"}, container={
        "command": ["sh", "-c", serve], "ports": [{"containerPort": 8080, "name": "http"}]}),
          service("myself", {"app": "selfish"}))
    snode.wait_ready("selfish")
    assert wait_for(lambda: snode.kubectl("exec", "selfish", "--", "wget", "-qO-",
                                          "http://myself", check=False).stdout.strip(),
                    15, "the hairpin answer") == "self"


def test_a_load_balancer_gets_the_nodes_address_and_its_port_on_loopback(
        snode: Node, web: dict[str, Any]) -> None:
    port = free_port()  # a port nothing of the host listens on
    apply(snode, service("web-lb", {"app": "web"}, port=port, type="LoadBalancer"))
    svc = wait_for(lambda: (o := get(snode, "service", "web-lb"))["status"]["loadBalancer"]
                   .get("ingress") and o, 10, "the LoadBalancer's ingress")
    [ingress] = svc["status"]["loadBalancer"]["ingress"]
    assert ingress["ip"] in snode.kubectl("get", "svc", "web-lb").stdout
    assert svc["spec"]["ports"][0]["nodePort"] >= 30000

    def answer() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
                return str(r.read().decode().strip())
        except OSError:
            return ""

    assert wait_for(answer, 10, "the LoadBalancer port") in ("web-1", "web-2")


def test_port_forward_to_a_service(snode: Node, web: dict[str, Any]) -> None:
    local = free_port()
    proc = subprocess.Popen(["kubectl", "port-forward", "svc/web", f"{local}:80"],
                            env=snode.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def answer() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=3) as r:
                    return str(r.read().decode().strip())
            except OSError:
                return ""
        assert wait_for(answer, 15, "the port-forward") in ("web-1", "web-2")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_input_is_refused_in_the_api_servers_words(snode: Node,
                                                       web: dict[str, Any]) -> None:
    def refused(svc: dict[str, Any]) -> str:
        result = snode.kubectl("create", "-f", "-", input=json.dumps(svc), check=False)
        assert result.returncode != 0
        gone = snode.kubectl("get", "svc", svc["metadata"]["name"], check=False)
        assert gone.returncode != 0  # nothing half made
        return result.stderr.strip()

    assert (
        'The Service "bad-np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided '
        "port is not in the valid range. The range of valid ports is 30000-32767") in refused(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-np"},
         "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}})
    apply(snode, service("holder", {"app": "web"}, type="NodePort"))
    taken = get(snode, "service", "holder")["spec"]["ports"][0]["nodePort"]
    assert refused({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "taken-np"},
                    "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": taken}]}}) \
        .endswith(f'The Service "taken-np" is invalid: spec.ports[0].nodePort: Invalid value: '
                  f"{taken}: provided port is already allocated")
    assert refused({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-ip"},
                    "spec": {"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}}).endswith(
        'The Service "bad-ip" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: '
        "failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. "
        f"The range of valid IPs is {SERVICE_CIDR}")
    assert refused({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup-ip"},
                    "spec": {"clusterIP": web["spec"]["clusterIP"], "ports": [{"port": 80}]}}) \
        .endswith("provided IP is already allocated")
    assert refused({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "noports"},
                    "spec": {"selector": {"app": "web"}}}).endswith(
        'The Service "noports" is invalid: spec.ports: Required value')
    # kubectl's typed client sends protobuf
    snode.kubectl("create", "service", "clusterip", "typed", "--tcp=8080:80")
    assert get(snode, "service", "typed")["spec"]["ports"][0]["targetPort"] == 80


def test_rules_are_rebuilt_after_a_kill_9(tmp_path: Path, registries_conf: Path) -> None:
    cidr = f"10.126.{random.randint(1, 250)}.0/24"
    root = tmp_path / "root"
    node = start_node(root, ["--registries-conf", str(registries_conf), "--service-cidr", cidr])
    table = table_name(str(root.resolve()))
    try:
        node.kubectl("create", "service", "clusterip", "kept", "--tcp=80:80")
        ip = get(node, "service", "kept")["spec"]["clusterIP"]
        wait_for(lambda: ip in subprocess.run(["nft", "list", "table", "ip", table],
                                              capture_output=True, text=True).stdout,
                 10, "the Service's rule")
        node.process.kill()
        node.process.wait()
        assert table in nft_tables()  # the data plane outlives the process, as kube-proxy's
        node = start_node(root, ["--registries-conf", str(registries_conf),
                                 "--service-cidr", cidr])
        rules = wait_for(lambda: (out := subprocess.run(
            ["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout)
            and ip in out and out, 10, "the rebuilt table")
        assert rules.count(f"{ip} . tcp . 80") == 1
    finally:
        stop_node(node)
    assert table not in nft_tables()
