"""Workloads with real kubectl (issue 15): Deployments (rollout, set env, history, undo, scale,
replacement, garbage collection), Jobs (completions/parallelism, backoff limit, Indexed),
CronJobs (a schedule fires, `create job --from`), StatefulSets (ordered start), DaemonSets,
`kubectl get all`, unknown kinds, and convergence after `kill -9` of the node."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
NS = "workloads"


def template(labels: dict[str, str], command: str | None = None,
             restart: str | None = None, **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox",
                                 "imagePullPolicy": "IfNotPresent",
                                 "command": ["sh", "-c", command or "sleep 3600"]}
    container.update(extra)
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 1, "containers": [container]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


def deployment(name: str, replicas: int = 2) -> str:
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": name}, "spec": {
                           "replicas": replicas, "selector": {"matchLabels": {"app": name}},
                           "template": template({"app": name})}})


def job(name: str, command: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                       "spec": {"template": template({}, command, "Never"), **spec}})


def wait_for(check: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


class Kubectl:
    def __init__(self, node: Node) -> None:
        self.node = node

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 90) -> str:
        return self.node.kubectl("-n", NS, *args, input=input, check=check,
                                 timeout=timeout).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json"))

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items = self.json("pods", "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def k(node: Node) -> Iterator[Kubectl]:
    node.kubectl("create", "namespace", NS)
    try:
        yield Kubectl(node)
    finally:
        node.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False,
                     timeout=90)


def test_deployment_rolls_out_forward_back_scales_and_is_collected(k: Kubectl) -> None:
    assert k("apply", "-f", "-", input=deployment("web")).strip() == \
        "deployment.apps/web created"
    assert "successfully rolled out" in k("rollout", "status", "deploy/web", "--timeout=60s")
    k("set", "env", "deploy/web", "COLOR=blue")
    assert "successfully rolled out" in k("rollout", "status", "deploy/web", "--timeout=60s")
    history = k("rollout", "history", "deploy/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    pods = k.pods("app=web")
    assert len(pods) == 2
    assert all(p["spec"]["containers"][0]["env"] == [{"name": "COLOR", "value": "blue"}]
               for p in pods)
    k("rollout", "undo", "deploy/web")
    assert "successfully rolled out" in k("rollout", "status", "deploy/web", "--timeout=60s")
    wait_for(lambda: len(k.pods("app=web")) == 2 and
             all("env" not in p["spec"]["containers"][0] for p in k.pods("app=web")),
             what="the rolled back Pods")
    assert k.json("deploy", "web")["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "3"

    k("scale", "deploy/web", "--replicas=5")
    k("rollout", "status", "deploy/web", "--timeout=60s")
    assert len(k.pods("app=web")) == 5
    k("scale", "deploy/web", "--replicas=2")
    wait_for(lambda: len(k.pods("app=web")) == 2, what="2 Pods")
    wait_for(lambda: k.json("deploy", "web")["status"].get("replicas") == 2,
             what="status.replicas 2")

    victim = k.pods("app=web")[0]["metadata"]["name"]
    k("delete", "pod", victim, "--wait=false")
    wait_for(lambda: len(k.pods("app=web")) == 2 and victim not in
             [p["metadata"]["name"] for p in k.pods("app=web")], what="a replacement Pod")
    table = k("get", "deploy", "web")
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]

    k("delete", "deploy", "web")
    wait_for(lambda: not k.json("rs", "-l", "app=web")["items"] and
             not k.json("pods", "-l", "app=web")["items"], what="ReplicaSets and Pods gone")


def test_jobs_complete_fail_and_index(k: Kubectl) -> None:
    k("apply", "-f", "-", input=job("three", "sleep 1", completions=3, parallelism=2))
    k("apply", "-f", "-", input=job("fails", "exit 3", backoffLimit=0))
    indexed = job("idx", "echo index=$JOB_COMPLETION_INDEX host=$(hostname)", completions=3,
                  parallelism=3, completionMode="Indexed")
    k("apply", "-f", "-", input=indexed)
    k("wait", "--for=condition=complete", "job/three", "job/idx", "--timeout=60s")
    assert k.json("job", "three")["status"]["succeeded"] == 3
    k("wait", "--for=condition=failed", "job/fails", "--timeout=60s")
    failed = [c for c in k.json("job", "fails")["status"]["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"
    logs = sorted(k("logs", p["metadata"]["name"]).strip()
                  for p in k.json("pods", "-l", "batch.kubernetes.io/job-name=idx")["items"])
    assert logs == [f"index={i} host=idx-{i}" for i in range(3)]
    assert k("get", "job", "three").split("\n")[1].split()[1:3] == ["Complete", "3/3"]


def test_cronjob_fires_and_create_job_from(k: Kubectl) -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
               "spec": {"schedule": "@every 2s", "jobTemplate": {"spec": {
                   "template": template({}, "echo tick", "OnFailure")}}}}
    k("apply", "-f", "-", input=json.dumps(cronjob))
    wait_for(lambda: [j for j in k.json("jobs")["items"]
                      if j["metadata"]["name"].startswith("tick-")], what="a scheduled Job")
    k("create", "job", "manual", "--from=cronjob/tick")
    k("wait", "--for=condition=complete", "job/manual", "--timeout=60s")
    owner = k.json("job", "manual")["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("CronJob", "tick")
    k("delete", "cronjob", "tick")


def test_statefulset_orders_and_daemonset_runs_one(k: Kubectl) -> None:
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 2,
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": template({"app": "db"}, "sleep 2; touch /tmp/ready; sleep 3600",
                                         readinessProbe=probe)}}
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": template({"app": "agent"})}}
    k("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                             "items": [sts, ds]}))
    k("rollout", "status", "sts/db", "--timeout=60s")
    k("rollout", "status", "ds/agent", "--timeout=60s")
    db0, db1 = k.json("pod", "db-0"), k.json("pod", "db-1")
    ready0 = next(c["lastTransitionTime"] for c in db0["status"]["conditions"]
                  if c["type"] == "Ready")
    assert db1["metadata"]["creationTimestamp"] >= ready0
    assert (db1["spec"]["hostname"], db1["spec"]["subdomain"]) == ("db-1", "db")
    assert len(k.pods("app=agent")) == 1
    everything = k("get", "all")
    for name in ("statefulset.apps/db", "daemonset.apps/agent", "pod/db-0"):
        assert name in everything
    k("delete", "sts/db", "ds/agent")


def test_statefulset_volume_claim_templates(k: Kubectl) -> None:
    """A claim per ordinal (`data-pg-0`), mounted by its Pod; refused with a clear 422 where
    persistent volumes are not served."""
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pg"},
           "spec": {"serviceName": "pg", "replicas": 1,
                    "selector": {"matchLabels": {"app": "pg"}},
                    "template": template({"app": "pg"}, "hostname > /data/who; sleep 3600",
                                         volumeMounts=[{"name": "data",
                                                        "mountPath": "/data"}]),
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}]}}
    out = k.node.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(sts), check=False)
    if "persistentvolumeclaims" not in k.node.kubectl("api-resources", "-o", "name").stdout:
        assert "spec.volumeClaimTemplates: Forbidden: podhost does not support persistent" \
            in out.stderr
        return
    assert out.returncode == 0, out.stderr
    k("rollout", "status", "sts/pg", "--timeout=60s")
    claim = k.json("pvc", "data-pg-0")
    assert claim["metadata"]["labels"] == {"app": "pg"}
    assert k("exec", "pg-0", "--", "cat", "/data/who").strip() == "pg-0"
    k("delete", "sts/pg")
    assert k.json("pvc", "data-pg-0")["metadata"]["name"] == "data-pg-0"  # Retain
    k("delete", "pvc", "data-pg-0", "--wait=false")


def test_validation_and_unknown_kinds(k: Kubectl) -> None:
    bad = json.loads(deployment("bad"))
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    out = k.node.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert 'The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: ' \
        'map[string]string{"app":"other"}: `selector` does not match template `labels`' in \
        out.stderr
    widget = json.dumps({"apiVersion": "example.com/v1", "kind": "Widget",
                         "metadata": {"name": "w"}})
    out = k.node.kubectl("-n", NS, "apply", "-f", "-", input=widget, check=False)
    assert 'no matches for kind "Widget" in version "example.com/v1"' in out.stderr


@pytest.fixture()
def own_node(tmp_path: Path) -> Iterator[Node]:
    n = start_node(tmp_path / "root")
    n.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
    try:
        yield n
    finally:
        n.kubectl("delete", "deploy", "--all", check=False)
        n.kubectl("delete", "pods", "--all", "--timeout=60s", check=False, timeout=90)
        stop_node(n)


def test_controllers_converge_after_kill_9(own_node: Node) -> None:
    own_node.kubectl("apply", "-f", "-", input=deployment("survivor", 3))
    own_node.kubectl("rollout", "status", "deploy/survivor", "--timeout=60s")
    own_node.process.send_signal(signal.SIGKILL)
    own_node.process.wait()
    again = start_node(own_node.root)
    own_node.process = again.process
    time.sleep(2)
    pods = json.loads(own_node.kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 3, [p["metadata"]["name"] for p in pods]
    own_node.kubectl("scale", "deploy/survivor", "--replicas=1")
    wait_for(lambda: len([p for p in json.loads(own_node.kubectl(
        "get", "pods", "-o", "json").stdout)["items"]
        if not p["metadata"].get("deletionTimestamp")]) == 1, what="1 Pod")


TYPED = ("create", "deployment", "typed", "--image=busybox", "--replicas=1", "--", "sh", "-c",
         "trap 'exit 0' TERM; sleep 3600 & wait")


def test_typed_create_and_orphan_cascade(k: Kubectl) -> None:
    """`kubectl create deployment` sends protobuf; `--cascade=orphan` keeps the ReplicaSet and
    its Pods, which a new Deployment of the same selector adopts."""
    k(*TYPED)
    k("rollout", "status", "deploy/typed", "--timeout=60s")
    pod = k.pods("app=typed")[0]["metadata"]["name"]
    k("delete", "deploy", "typed", "--cascade=orphan")
    sets = k.json("rs", "-l", "app=typed")["items"]
    assert len(sets) == 1 and not sets[0]["metadata"].get("ownerReferences")
    k(*TYPED)
    wait_for(lambda: (k.json("rs", "-l", "app=typed")["items"][0]["metadata"].get(
        "ownerReferences") or [{}])[0].get("kind") == "Deployment", what="adoption")
    assert [p["metadata"]["name"] for p in k.pods("app=typed")] == [pod]
    k("delete", "deploy", "typed")
    wait_for(lambda: not k.json("pods", "-l", "app=typed")["items"], what="the Pods gone")
