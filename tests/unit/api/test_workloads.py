"""apps/v1 and batch/v1 in the API server's words: defaults, validation, cron schedules,
Scale, tables, propagation policies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podhost.api import cron, errors, gc, registry, workloads
from podhost.registry import generic, strategies


def deployment(**spec: Any) -> dict[str, Any]:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                    **spec}}
    return generic.prepare_for_create("deployments", obj, "default")


def messages(resource: str, obj: dict[str, Any], old: dict[str, Any] | None = None
             ) -> list[str]:
    try:
        generic.validate(resource, obj, old)
    except errors.InvalidError as e:
        return [str(x) for x in e.errors]
    return []


def test_deployment_defaults_as_the_api_server_stores_them() -> None:
    d = deployment()
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (d["spec"]["revisionHistoryLimit"], d["spec"]["progressDeadlineSeconds"]) == (10, 600)
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["dnsPolicy"] == "ClusterFirst"
    assert "serviceAccountName" not in pod_spec and "tolerations" not in pod_spec
    assert d["metadata"]["generation"] == 1 and d["status"] == {}


def test_job_defaults_and_generated_selector() -> None:
    job = generic.prepare_for_create("jobs", {"metadata": {"name": "j"}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox"}]}}}}, "default")
    spec, uid = job["spec"], job["metadata"]["uid"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "j"
    assert messages("jobs", job) == []


def test_update_bumps_generation_only_for_spec_and_keeps_status() -> None:
    old = deployment()
    old["status"] = {"replicas": 1}
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 99}
    new["metadata"]["labels"] = {"a": "b"}
    assert generic.prepare_for_update("deployments", new, old)["metadata"]["generation"] == 1
    assert new["status"] == {"replicas": 1}
    new2 = copy.deepcopy(old)
    new2["spec"]["replicas"] = 3
    assert generic.prepare_for_update("deployments", new2, old)["metadata"]["generation"] == 2


def test_deployment_validation_messages() -> None:
    d = deployment(replicas=-1)
    d["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    d["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert messages("deployments", d) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`",
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"']
    d = deployment(strategy={"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
    assert messages("deployments", d) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when "
        "`maxSurge` is 0"]
    old, new = deployment(), deployment()
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "x": "y"}}
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert messages("deployments", new, old) == [
        'spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{'
        '"app":"web", "x":"y"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
        "field is immutable"]


def test_statefulset_claim_templates_and_job_rules() -> None:
    spec = copy.deepcopy(deployment()["spec"])
    spec["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}]
    sts = generic.prepare_for_create("statefulsets", {"metadata": {"name": "db"}, "spec": {
        **spec, "volumeClaimTemplates": [{"metadata": {"name": "data"}}, {}]}}, "default")
    sts["spec"].pop("strategy")
    sts["spec"].pop("progressDeadlineSeconds")
    found = messages("statefulsets", sts)
    if registry.get("persistentvolumeclaims") is None:
        assert found[0].startswith("spec.volumeClaimTemplates: Forbidden: podhost does not "
                                   "support persistent volumes yet")
        found = found[1:]
    # a mount of a claim template's volume is valid; a template needs a name
    assert found == ["spec.volumeClaimTemplates[1].metadata.name: Required value"]
    job = generic.prepare_for_create("jobs", {"metadata": {"name": "j"}, "spec": {
        "completionMode": "Indexed", "parallelism": 2,
        "template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}}, "default")
    assert messages("jobs", job) == [
        "spec.completions: Required value: when completion mode is Indexed",
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"']


def test_cronjob_schedule_and_time_zone_validation() -> None:
    cj = generic.prepare_for_create("cronjobs", {"metadata": {"name": "c"}, "spec": {
        "schedule": "61 * * * *", "timeZone": "Mars/Olympus", "jobTemplate": {"spec": {
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "b"}]}}}}}},
        "default")
    assert messages("cronjobs", cj) == [
        'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61',
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']
    cj["spec"].update(schedule="TZ=UTC 0 * * * *", timeZone=None)
    assert messages("cronjobs", cj) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in '
        "schedule, use timeZone field instead"]


@pytest.mark.parametrize(("spec", "after", "expected"), [
    ("*/15 * * * *", datetime(2026, 1, 1, 10, 7), datetime(2026, 1, 1, 10, 15)),
    ("0 0 * * MON", datetime(2026, 1, 1, 10, 7), datetime(2026, 1, 5, 0, 0)),
    ("@monthly", datetime(2026, 1, 31, 10, 7), datetime(2026, 2, 1, 0, 0)),
    ("0 12 13 * 5", datetime(2026, 1, 1), datetime(2026, 1, 2, 12, 0)),  # dom OR dow
    ("30 4 29 2 *", datetime(2026, 1, 1), datetime(2028, 2, 29, 4, 30)),
])
def test_cron_next(spec: str, after: datetime, expected: datetime) -> None:
    tz = after.replace(tzinfo=UTC)
    assert cron.parse(spec).next(tz) == expected.replace(tzinfo=UTC)


def test_cron_missed_runs_and_errors() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    latest, count = cron.most_recent(cron.parse("0 * * * *"), now - timedelta(hours=3), now)
    assert (latest, count) == (now, 3)
    latest, count = cron.most_recent(cron.parse("* * * * *"), now - timedelta(days=2), now)
    assert (latest, count) == (now, 101)
    with pytest.raises(cron.CronError, match=r"expected exactly 5 fields, found 1: \[x\]"):
        cron.parse("x")


def test_scale_and_tables() -> None:
    d = deployment(replicas=2)
    d["metadata"]["resourceVersion"] = "5"
    scale = workloads.scale_of(d)
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    assert workloads.apply_scale(d, {"spec": {"replicas": 5}})["spec"]["replicas"] == 5
    with pytest.raises(errors.InvalidError):
        workloads.apply_scale(d, {"spec": {"replicas": -1}})
    d["status"] = {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}
    t = strategies.get("deployments").table([d], 5)
    assert [c["name"] for c in t["columnDefinitions"]][:5] == [
        "Name", "Ready", "Up-to-date", "Available", "Age"]
    assert t["rows"][0]["cells"][:4] == ["web", "1/2", 2, 1]


def test_propagation_policy() -> None:
    assert gc.propagation_policy({}, strategies.get("deployments").gc_policy) == "Background"
    assert gc.propagation_policy({}, strategies.get("jobs").gc_policy) == "Orphan"
    assert gc.propagation_policy({"orphanDependents": False}, "Orphan") == "Background"
    with pytest.raises(errors.InvalidError):
        gc.propagation_policy({"propagationPolicy": "Sideways"})
    obj = deployment()
    gc.add_finalizer(obj, "Foreground")
    assert obj["metadata"]["finalizers"] == ["foregroundDeletion"]
