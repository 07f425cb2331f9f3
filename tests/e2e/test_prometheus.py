"""Monitoring as people run it (issue 31): a real Prometheus scrapes the API server's `/metrics`
and the kubelet's and cAdvisor's endpoints through the node proxy, with a ServiceAccount's
token and the cluster's CA, and answers the queries dashboards are made of.

Debian's `prometheus` (2.42) is built without Kubernetes service discovery, so the targets are
given as file-based service discovery (`file_sd_configs`) rather than `kubernetes_sd_configs`;
what is scraped, and how (HTTPS, bearer token, node proxy paths), is what the documented
Kubernetes configuration does. Scrapes every second keep the test short. `promtool check
metrics` lints every endpoint's exposition.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Node, free_port

pytestmark = pytest.mark.e2e

PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
NS = "monitoring-e2e"
RBAC = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: prometheus, namespace: {NS}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {NS}-prometheus}}
rules:
- apiGroups: [""]
  resources: [nodes/proxy, nodes/metrics]
  verbs: [get]
- nonResourceURLs: [/metrics]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {NS}-prometheus}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {NS}-prometheus}}
subjects: [{{kind: ServiceAccount, name: prometheus, namespace: {NS}}}]
"""
# nginx serves; `load` fetches from it in a loop (network) and spins under a 50m CPU limit
# (throttling)
WORKLOAD = f"""
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {NS}}}
spec:
  containers:
  - {{name: nginx, image: nginx, imagePullPolicy: IfNotPresent}}
---
apiVersion: v1
kind: Pod
metadata: {{name: load, namespace: {NS}}}
spec:
  containers:
  - name: fetch
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [/bin/sh, -c, "while true; do wget -q -O /dev/null http://$WEB/ ; sleep 0.05; done"]
    env: [{{name: WEB, value: "WEB_IP"}}]
  - name: spin
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [/bin/sh, -c, "while :; do :; done"]
    resources: {{limits: {{cpu: 50m}}}}
"""


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def wait_ready(self, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["result"])

    def until(self, expr: str, check: Any, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if check(result):
                return result
            assert time.monotonic() < deadline, f"{expr}: {result}"
            time.sleep(1)


def _values(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


@pytest.fixture(scope="module")
def scraped(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The workload running, and Prometheus scraping the three endpoints; yields
    (Prometheus, node name, token)."""
    assert shutil.which(PROMETHEUS), "prometheus is missing: run make install (APT_PACKAGES)"
    work = tmp_path_factory.mktemp("prometheus")
    node.kubectl("create", "namespace", NS)
    node.kubectl("apply", "-f", "-", input=RBAC)
    node.kubectl("apply", "-f", "-", input=WORKLOAD.split("---\n")[0])
    node.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/web", "--timeout=60s",
                 timeout=70)
    web_ip = node.kubectl("get", "pod", "-n", NS, "web", "-o",
                          "jsonpath={.status.podIP}").stdout
    node.kubectl("apply", "-f", "-", input=WORKLOAD.split("---\n")[1].replace("WEB_IP", web_ip))
    node.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/load", "--timeout=60s",
                 timeout=70)
    node_name = node.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    token = node.kubectl("create", "token", "prometheus", "-n", NS, "--duration=1h").stdout
    (work / "token").write_text(token.strip())
    proxy = f"/api/v1/nodes/{node_name}/proxy"
    jobs = {"apiserver": "/metrics", "kubelet": f"{proxy}/metrics",
            "cadvisor": f"{proxy}/metrics/cadvisor"}
    (work / "targets.json").write_text(json.dumps(
        [{"targets": [f"127.0.0.1:{node.port}"], "labels": {"cluster": "podhost"}}]))
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
              "scrape_configs": [
                  {"job_name": job, "scheme": "https", "metrics_path": path,
                   "tls_config": {"ca_file": str(node.root / "pki" / "ca.crt")},
                   "authorization": {"credentials_file": str(work / "token")},
                   "file_sd_configs": [{"files": [str(work / "targets.json")]}]}
                  for job, path in jobs.items()]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"], stdout=open(work / "prometheus.log", "wb"),
        stderr=subprocess.STDOUT, start_new_session=True)
    prom = Prometheus(port)
    try:
        prom.wait_ready(process, work / "prometheus.log")
        prom.until("up", lambda r: _values(r, "job") == dict.fromkeys(jobs, 1.0), timeout=60)
        yield prom, node_name, token.strip(), jobs
    finally:
        process.terminate()
        process.wait(timeout=20)
        node.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False,
                     timeout=90)
        node.kubectl("delete", "clusterrolebinding,clusterrole", f"{NS}-prometheus",
                     check=False)


def test_api_server_requests_by_verb(scraped: Any) -> None:
    prom = scraped[0]
    result = prom.until("sum(rate(apiserver_request_total[1m])) by (verb)",
                        lambda r: _values(r, "verb").get("GET", 0) > 0)
    by_verb = _values(result, "verb")
    assert by_verb["GET"] > 0 and "WATCH" in by_verb or "LIST" in by_verb, by_verb
    found = prom.query('apiserver_request_total{verb="GET",resource="nodes",'
                       'subresource="proxy",code="200",component="apiserver"}')
    assert found, "the scrapes through the node proxy are counted"
    assert prom.query('histogram_quantile(0.99, sum(rate('
                      'apiserver_request_sli_duration_seconds_bucket{verb!~"WATCH|CONNECT"}[1m]'
                      ')) by (le, verb))')
    assert prom.query('apiserver_storage_objects{resource="pods"}')
    assert prom.query('workqueue_adds_total{name="namespace"}')


def test_kubelet_node_name(scraped: Any) -> None:
    prom, node_name = scraped[0], scraped[1]
    result = prom.query("kubelet_node_name")
    assert [(r["metric"]["node"], r["value"][1]) for r in result] == [(node_name, "1")]
    assert prom.query('kubelet_runtime_operations_total{operation_type="create_container"}')
    assert prom.query('volume_manager_total_volumes{state="actual_state_of_world"}')


def test_pod_network_under_traffic(scraped: Any) -> None:
    prom = scraped[0]
    for pod in ("web", "load"):
        prom.until(f'rate(container_network_receive_bytes_total{{namespace="{NS}",pod="{pod}"'
                   f'}}[1m]) > 0', lambda r: len(r) == 1)
        prom.until(f'rate(container_network_transmit_bytes_total{{namespace="{NS}",'
                   f'pod="{pod}"}}[1m]) > 0', lambda r: len(r) == 1)


# the kubernetes-mixin's Compute Resources / Pod panels, on their raw series (the mixin's
# recording rules join kube-state-metrics, which this cluster does not run)
SELECT = f'job="cadvisor", namespace="{NS}", pod="load"'
PANELS = {
    "cpu": f'sum(rate(container_cpu_usage_seconds_total{{{SELECT}, container!="", '
           f'image!=""}}[1m])) by (container)',
    "throttling": f'sum(increase(container_cpu_cfs_throttled_periods_total{{{SELECT}, '
                  f'container!=""}}[1m])) by (container) / sum(increase('
                  f'container_cpu_cfs_periods_total{{{SELECT}, container!=""}}[1m])) '
                  f'by (container)',
    "memory": f'sum(container_memory_working_set_bytes{{{SELECT}, container!="", '
              f'image!=""}}) by (container)',
    "memory rss": f'sum(container_memory_rss{{{SELECT}, container!=""}}) by (container)',
    "memory cache": f'sum(container_memory_cache{{{SELECT}, container!=""}}) by (container)',
    "memory swap": f'sum(container_memory_swap{{{SELECT}, container!=""}}) by (container)',
    "receive": f'sum(irate(container_network_receive_bytes_total{{{SELECT}}}[1m])) by (pod)',
    "transmit": f'sum(irate(container_network_transmit_bytes_total{{{SELECT}}}[1m])) by (pod)',
    "receive packets": f'sum(irate(container_network_receive_packets_total{{{SELECT}}}[1m])) '
                       f'by (pod)',
}


def test_compute_resources_pod_without_gaps(scraped: Any) -> None:
    prom = scraped[0]
    prom.until(PANELS["throttling"], lambda r: _values(r, "container").get("spin", 0) > 0)
    time.sleep(6)  # a few more scrapes to draw
    end = time.time()
    for panel, expr in PANELS.items():
        data = prom.get("/api/v1/query_range", query=expr, start=str(end - 5), end=str(end),
                        step="1")
        series = data["result"]
        assert series, panel
        for s in series:
            assert len(s["values"]) == 6, (panel, s)  # a point every second: no gap
    cpu = _values(prom.query(PANELS["cpu"]), "container")
    assert set(cpu) == {"fetch", "spin"} and cpu["spin"] > 0, cpu
    assert 0 < cpu["spin"] <= 0.08, cpu  # held to its 50m limit
    memory = _values(prom.query(PANELS["memory"]), "container")
    assert set(memory) == {"fetch", "spin"} and all(v > 0 for v in memory.values()), memory


def _fetch(node: Node, path: str, token: str) -> tuple[int, bytes]:
    """GET with the bearer token alone, verifying the server with the cluster's CA (as
    Prometheus does; kubectl would present the kubeconfig's client certificate too)."""
    ctx = ssl.create_default_context(cafile=str(node.root / "pki" / "ca.crt"))
    request = urllib.request.Request(f"https://127.0.0.1:{node.port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_promtool_check_metrics_is_clean(node: Node, scraped: Any) -> None:
    token, jobs = scraped[2], scraped[3]
    for job, path in jobs.items():
        status, text = _fetch(node, path, token)
        assert status == 200, (job, text[:500])
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                              timeout=60)
        assert lint.returncode == 0 and not lint.stdout and not lint.stderr, \
            (job, lint.stdout.decode()[:2000], lint.stderr.decode()[:2000])
    assert b"kubelet_volume_stats" not in _fetch(node, jobs["apiserver"], token)[1]


def test_a_scraper_needs_its_role(node: Node, scraped: Any) -> None:
    """Without the ClusterRole the API server's /metrics is refused, as kube-apiserver does."""
    node.kubectl("create", "serviceaccount", "nobody", "-n", NS)
    token = node.kubectl("create", "token", "nobody", "-n", NS).stdout.strip()
    status, body = _fetch(node, "/metrics", token)
    assert status == 403
    assert json.loads(body)["message"] == \
        f'forbidden: User "system:serviceaccount:{NS}:nobody" cannot get path "/metrics"'
    status, _ = _fetch(node, f"/api/v1/nodes/{scraped[1]}/proxy/metrics/cadvisor", token)
    assert status == 403
