"""Observability as a new user tries it: the kubelet's metrics and Summary API through the node
proxy with real kubectl, and `podhost dashboard` in headless Chromium (issue 18)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO
from tests.e2e.conftest import PODHOST, Node, free_port

pytestmark = pytest.mark.e2e

SEED = REPO / "examples" / "data-sharing-pod.yaml"
NS = "observe"
POD = "data-sharing-pod"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def seed(node: Node) -> Iterator[str]:
    """The seed Pod running in its own namespace; the node's name."""
    node.kubectl("create", "namespace", NS)
    node.kubectl("apply", "-n", NS, "-f", str(SEED))
    node.kubectl("wait", "-n", NS, "--for=condition=Ready", f"pod/{POD}", "--timeout=90s",
                 timeout=100)
    try:
        yield node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    finally:
        node.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False,
                     timeout=90)


def raw(node: Node, path: str) -> str:
    return node.kubectl("get", "--raw", path).stdout


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text)
            for s in f.samples]


def test_metrics_carry_the_kubelet_names(node: Node, seed: str) -> None:
    text = raw(node, f"/api/v1/nodes/{seed}/proxy/metrics")
    families = {f.name for f in text_string_to_metric_families(text)}
    for name in ("kubelet_running_pods", "kubelet_running_containers",
                 "kubelet_pod_start_duration_seconds", "kubelet_pod_start_sli_duration_seconds",
                 "kubelet_started_pods", "kubelet_started_pods_errors",
                 "kubelet_started_containers", "kubelet_started_containers_errors",
                 "kubelet_image_pull_duration_seconds", "kubelet_volume_stats_used_bytes",
                 "podhost_emptydir_used_bytes"):
        assert name in families, name
    got = samples(text)
    running = [v for n, labels, v in got if n == "kubelet_running_containers"
               and labels == {"container_state": "running"}]
    assert running and running[0] >= 2
    assert any(n == "kubelet_started_pods_total" and v >= 1 for n, _, v in got)
    assert any(n == "kubelet_started_containers_total" and labels.get("container_type") ==
               "container" and v >= 2 for n, labels, v in got)
    assert any(n == "kubelet_pod_start_duration_seconds_count" and v >= 1 for n, _, v in got)
    assert any(n == "kubelet_image_pull_duration_seconds_count" and v >= 1 for n, _, v in got)
    assert any(n == "podhost_emptydir_used_bytes" and labels.get("pod") == POD
               and labels.get("volume") == "shared-data" for n, labels, v in got)


def test_cadvisor_has_memory_and_cpu_per_container(node: Node, seed: str) -> None:
    got = samples(raw(node, f"/api/v1/nodes/{seed}/proxy/metrics/cadvisor"))
    for metric in ("container_memory_working_set_bytes", "container_cpu_usage_seconds_total",
                   "container_fs_usage_bytes"):
        found = {labels["container"]: v for n, labels, v in got if n == metric
                 and labels.get("pod") == POD and labels.get("namespace") == NS
                 and labels["container"] not in ("", "POD")}  # the Pod's and its sandbox's
        assert set(found) == {"app-container-1", "app-container-2"}, (metric, found)
        if metric == "container_memory_working_set_bytes":
            assert all(v > 0 for v in found.values()), found


def test_resource_probes_healthz_and_pods(node: Node, seed: str) -> None:
    base = f"/api/v1/nodes/{seed}/proxy"
    resource = samples(raw(node, f"{base}/metrics/resource"))
    assert any(n == "pod_memory_working_set_bytes" and labels.get("pod") == POD
               for n, labels, _ in resource)
    assert any(n == "node_memory_working_set_bytes" for n, _, _ in resource)
    samples(raw(node, f"{base}/metrics/probes"))  # parses
    assert raw(node, f"{base}/healthz") == "ok"
    pods = json.loads(raw(node, f"{base}/pods"))
    assert pods["kind"] == "PodList"
    assert (NS, POD) in {(p["metadata"]["namespace"], p["metadata"]["name"])
                         for p in pods["items"]}
    missing = node.kubectl("get", "--raw", "/api/v1/nodes/nope/proxy/metrics", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr + missing.stdout


def _shared_data(node: Node, node_name: str) -> dict[str, int]:
    summary = json.loads(raw(node, f"/api/v1/nodes/{node_name}/proxy/stats/summary"))
    assert summary["node"]["nodeName"] == node_name
    pod = next(p for p in summary["pods"] if p["podRef"] == {
        "name": POD, "namespace": NS, "uid": p["podRef"]["uid"]})
    assert {c["name"] for c in pod["containers"]} == {"app-container-1", "app-container-2"}
    return next(v for v in pod["volume"] if v["name"] == "shared-data")


def test_summary_shows_shared_data_usage(node: Node, seed: str) -> None:
    before = _shared_data(node, seed)["usedBytes"]
    node.kubectl("exec", "-n", NS, POD, "-c", "app-container-2", "--", "dd",
                 "if=/dev/urandom", "of=/usr/share/nginx/html/blob", "bs=1048576", "count=3")
    volume = _shared_data(node, seed)
    assert volume["usedBytes"] >= before + 3 * 1048576, volume
    assert volume["capacityBytes"] >= volume["availableBytes"] > 0
    assert volume["inodesUsed"] >= 3  # the root, index.html and blob


def test_rbac_nodes_metrics_without_nodes_proxy(node: Node, seed: str, tmp_path: Path) -> None:
    """A client that holds `nodes/metrics` (as a kubelet asks on its own port) may scrape the
    metrics through the proxy, not the Summary API (`nodes/stats`) nor `pods`."""
    config = tmp_path / "scraper.kubeconfig"
    config.write_text(node.podhost("kubeconfig", "--user", "scraper").stdout)
    node.kubectl("create", "clusterrole", "obs-scraper", "--verb=get",
                 "--resource=nodes/metrics")
    node.kubectl("create", "clusterrolebinding", "obs-scraper", "--clusterrole=obs-scraper",
                 "--user=scraper")
    try:
        as_scraper = ["--kubeconfig", str(config), "get", "--raw"]
        ok = node.kubectl(*as_scraper, f"/api/v1/nodes/{seed}/proxy/metrics/cadvisor")
        assert "container_memory_working_set_bytes" in ok.stdout
        denied = node.kubectl(*as_scraper, f"/api/v1/nodes/{seed}/proxy/stats/summary",
                              check=False)
        assert denied.returncode != 0
        assert 'cannot get resource "nodes/proxy"' in denied.stderr, denied.stderr
    finally:
        node.kubectl("delete", "clusterrolebinding", "obs-scraper", check=False)
        node.kubectl("delete", "clusterrole", "obs-scraper", check=False)


# -- the dashboard ---------------------------------------------------------------------------
@pytest.fixture
def dashboard(node: Node) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([PODHOST, "dashboard", "--no-browser", "--port", str(port)],
                               env=node.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert f"http://127.0.0.1:{port}/" in line, line
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    conn.endheaders()
    response = conn.getresponse()
    return response.status, response.read()


def test_dashboard_refuses_foreign_hosts_and_writes(node: Node, seed: str,
                                                    dashboard: int) -> None:
    status, body = _get(dashboard, "/api/v1/namespaces", host="evil.example:80")
    assert status == 403 and b"Host header" in body
    status, body = _get(dashboard, "/", host=f"attacker.test:{dashboard}")
    assert status == 403
    status, body = _get(dashboard, "/api/v1/namespaces", host=f"localhost:{dashboard}")
    assert status == 200 and json.loads(body)["kind"] == "NamespaceList"
    status, _ = _get(dashboard, f"/api/v1/namespaces/{NS}/pods/{POD}/exec?command=ls")
    assert status == 403
    import yaml
    token = yaml.safe_load((node.root / "kubeconfig").read_text())["users"][0]["user"]["token"]
    status, page = _get(dashboard, "/")
    assert status == 200 and b"app.js" in page
    for name in ("index.html", "app.js", "view.js", "style.css", "../dashboard.py"):
        status, body = _get(dashboard, f"/static/{name}")
        assert status == (404 if name.startswith("..") else 200), name
        assert token.encode() not in body and b"Bearer" not in body

def _playwright() -> Any:
    """Playwright and Debian's chromium: `make install` puts both here, so a missing one is a
    failure, not a skip."""
    import playwright.sync_api
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run make install"
    return playwright.sync_api


def _browser(p: Any, tmp_path: Path) -> Any:
    return p.chromium.launch_persistent_context(  # a fresh --user-data-dir
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1500, "height": 900})


@contextlib.contextmanager
def _page(tmp_path: Path, url: str) -> Iterator[Any]:
    """A page of headless Chromium open at url."""
    playwright = _playwright()
    with playwright.sync_playwright() as p:
        browser = _browser(p, tmp_path)
        try:
            page = browser.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()


def test_dashboard_of_a_namespaced_user(node: Node, seed: str, tmp_path: Path) -> None:
    """A user who may only view one namespace (`--kubeconfig` of their own) sees its Pods."""
    config = tmp_path / "viewer.kubeconfig"
    config.write_text(node.podhost("kubeconfig", "--user", "viewer").stdout)
    node.kubectl("create", "rolebinding", "viewer", "-n", NS, "--clusterrole=view",
                 "--user=viewer")
    subprocess.run(["kubectl", "--kubeconfig", str(config), "config", "set-context",
                    "--current", f"--namespace={NS}"], check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([PODHOST, "dashboard", "--no-browser", "--port", str(port),
                                "--kubeconfig", str(config)], env=node.env(),
                               stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None and str(port) in process.stdout.readline().decode()
        with _page(tmp_path, f"http://127.0.0.1:{port}/") as page:
            card = page.locator(f'[data-pod="{NS}/{POD}"]')
            card.wait_for(timeout=20000)
            assert card.locator('.volume[data-volume="shared-data"]').count() == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
        node.kubectl("delete", "rolebinding", "viewer", "-n", NS, check=False)


WORKLOADS = f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {NS}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 16Mi}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: busy
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [/bin/sh, -c, "echo hi > /data/$HOSTNAME; while :; do i=$((i+1)); done"]
        resources: {{limits: {{cpu: 20m}}}}
        volumeMounts: [{{name: data, mountPath: /data}}]
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def test_dashboard_workloads_services_claims_and_node(node: Node, seed: str, dashboard: int,
                                                      tmp_path: Path) -> None:
    """A Deployment with its ReplicaSet and Pods (by ownerReferences), its Service with the
    endpoints, the claim with its usage, the node's meters, real CPU figures, and the Pods'
    kube-api-access-* volumes folded until asked for."""
    node.kubectl("apply", "-f", "-", input=WORKLOADS)
    node.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=90s", timeout=100)
    try:
        with _page(tmp_path, f"http://127.0.0.1:{dashboard}/") as page:
            deployment = page.locator(f'[data-workload="Deployment/{NS}/web"]')
            deployment.wait_for(timeout=20000)
            replicaset = deployment.locator(f'[data-replicaset^="{NS}/web-"]')
            replicaset.wait_for(timeout=10000)
            assert replicaset.count() == 1
            page.wait_for_function(
                "sel => document.querySelectorAll(sel).length === 2",
                arg=f'[data-workload="Deployment/{NS}/web"] [data-owned-pod^="{NS}/web-"]',
                timeout=20000)
            page.wait_for_function(  # both Pods' addresses, from the EndpointSlice
                "sel => document.querySelectorAll(sel).length === 2",
                arg=f'[data-service="{NS}/web"] [data-endpoint]', timeout=20000)
            page.wait_for_function(  # the claim's usage, from the Summary API
                "sel => Number(document.querySelector(sel)?.dataset.usage) > 0",
                arg=f'[data-claim="{NS}/data"] [data-usage]', timeout=20000)
            for meter in ("cpu", "memory", "disk", "pods"):
                assert page.locator(f'[data-node] [data-meter="{meter}"]').count() == 1
            page.wait_for_function(  # a busy container's CPU is a real figure, not 0m
                "() => [...document.querySelectorAll('[data-cpu]')]"
                ".some(e => Number(e.dataset.cpu) > 1e6 && !/ 0m CPU/.test(e.textContent))",
                timeout=20000)
            card = page.locator(f'[data-pod="{NS}/{POD}"]')
            assert card.locator('.volume[data-volume^="kube-api-access-"]').count() == 0
            card.locator("button.fold").click()
            card.locator('.volume[data-volume^="kube-api-access-"]').wait_for(timeout=5000)
            page.locator("#tokens").click()
            card.locator('.volume[data-volume^="kube-api-access-"]').wait_for(
                state="detached", timeout=5000)
            card.locator('.container[data-container="app-container-1"]').click()
            page.locator('pre[data-log="app-container-1"]').wait_for(timeout=10000)
            shot = os.environ.get("PODHOST_DASHBOARD_SCREENSHOT")
            page.screenshot(path=shot or str(tmp_path / "dashboard.png"), full_page=True)
    finally:
        node.kubectl("delete", "-f", "-", "--wait=false", input=WORKLOADS, check=False)


def test_dashboard_page_in_chromium(node: Node, seed: str, dashboard: int,
                                    tmp_path: Path) -> None:
    with _page(tmp_path, f"http://127.0.0.1:{dashboard}/") as page:
        card = page.locator(f'[data-pod="{NS}/{POD}"]')
        card.wait_for(timeout=20000)
        for name in ("app-container-1", "app-container-2"):
            assert card.locator(f'.container[data-container="{name}"]').count() == 1
        assert card.locator('.volume[data-volume="shared-data"]').count() == 1
        mounts = card.locator('text[data-mount-path="/usr/share/nginx/html"]')
        assert mounts.count() == 2
        assert {mounts.nth(i).get_attribute("data-volume") for i in range(2)} == \
            {"shared-data"}
        page.wait_for_function(  # the Summary API's usage, through the node proxy
            "sel => Number(document.querySelector(sel)?.dataset.usage) > 0",
            arg=f'[data-pod="{NS}/{POD}"] .volume[data-volume="shared-data"] [data-usage]',
            timeout=15000)
        card.locator('.volume[data-volume="shared-data"]').click()
        page.locator('[data-entry="index.html"]').wait_for(timeout=10000)
        card.locator('.container[data-container="app-container-1"]').click()
        page.locator('pre[data-log="app-container-1"]').wait_for(timeout=10000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        node.kubectl("delete", "pod", "-n", NS, POD, "--wait=false")
        card.wait_for(state="detached", timeout=60000)
    deadline = time.monotonic() + 60
    while node.kubectl("get", "pod", "-n", NS, POD, check=False).returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.5)
