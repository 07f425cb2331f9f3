"""Webhook dispatch without a network: Service targets resolved to a ready endpoint, rules,
selectors, matchConditions and failure policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podhost.api import errors
from podhost.apiserver.webhooks import Webhooks
from podhost.registry.strategy import Context
from podhost.store.sqlite import Store

CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c", "namespace": "default", "labels": {"app": "x"}}}


def config(**hook: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "v", "uid": "u"},
            "webhooks": [{"name": "v.example.com", "admissionReviewVersions": ["v1"],
                          "sideEffects": "None", "failurePolicy": "Fail",
                          "clientConfig": {"url": "https://127.0.0.1:1/"},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                                     "apiVersions": ["v1"], "resources": ["configmaps"]}],
                          **hook}]}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.sqlite")
    s.create("namespaces", {"metadata": {"name": "default", "uid": "n",
                                         "labels": {"env": "dev"}}})
    return s


def test_service_target_resolves_to_a_ready_endpoint(store: Store) -> None:
    store.create("services", {"metadata": {"name": "hook", "namespace": "sys", "uid": "s"},
                              "spec": {"ports": [{"port": 443, "targetPort": 8443}]}})
    store.create("endpointslices", {
        "metadata": {"name": "hook-1", "namespace": "sys", "uid": "e",
                     "labels": {"kubernetes.io/service-name": "hook"}},
        "ports": [{"name": "", "port": 8443}],
        "endpoints": [{"addresses": ["10.88.0.7"], "conditions": {"ready": False}},
                      {"addresses": ["10.88.0.9"], "conditions": {"ready": True}}]})
    url, server_name = Webhooks(store)._service_url(
        {"namespace": "sys", "name": "hook", "port": 443, "path": "/validate"})
    assert (url, server_name) == ("https://10.88.0.9:8443/validate", "hook.sys.svc")
    with pytest.raises(ValueError, match='service "missing" not found'):
        Webhooks(store)._service_url({"namespace": "sys", "name": "missing"})


def test_fail_and_ignore(store: Store) -> None:
    store.create("validatingwebhookconfigurations", config())
    with pytest.raises(errors.InternalError, match='failed calling webhook "v.example.com": '
                                                   "failed to call webhook: Post "):
        Webhooks(store).validate(Context(store), "configmaps", dict(CM), None)
    ignored = config(failurePolicy="Ignore")
    ignored["metadata"]["name"] = "v"
    store.update("validatingwebhookconfigurations", ignored)
    Webhooks(store).validate(Context(store), "configmaps", dict(CM), None)


@pytest.mark.parametrize("hook", [
    {"objectSelector": {"matchLabels": {"app": "y"}}},
    {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
    {"matchConditions": [{"name": "only-y", "expression": "object.metadata.name == 'y'"}]},
    {"rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["configmaps"]}]},
])
def test_not_matching_webhooks_are_not_called(store: Store, hook: dict[str, Any]) -> None:
    store.create("validatingwebhookconfigurations", config(**hook))  # its URL refuses
    Webhooks(store).validate(Context(store), "configmaps", dict(CM), None)


def test_dry_run_needs_side_effects_none(store: Store) -> None:
    store.create("validatingwebhookconfigurations", config(sideEffects="Some"))
    with pytest.raises(errors.BadRequestError,
                       match='admission webhook "v.example.com" does not support dry run'):
        Webhooks(store).validate(Context(store, dry_run=True), "configmaps", dict(CM), None)


def test_subresource_writes_match_subresource_rules(store: Store) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}}
    on_pods = config(rules=[{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                             "resources": ["pods"]}])
    store.create("validatingwebhookconfigurations", on_pods)  # its URL refuses
    status_write = Context(store, subresource="status")
    Webhooks(store).validate(status_write, "pods", dict(pod), dict(pod))  # kubelet's status
    on_status = config(rules=[{"operations": ["UPDATE"], "apiGroups": [""],
                               "apiVersions": ["v1"], "resources": ["pods/status"]}])
    store.update("validatingwebhookconfigurations", on_status)
    with pytest.raises(errors.InternalError, match="failed calling webhook"):
        Webhooks(store).validate(status_write, "pods", dict(pod), dict(pod))
