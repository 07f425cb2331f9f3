"""CustomResourceDefinitions against real kubectl: establish, validate (schema and CEL),
printer columns, scale, server-side apply, explain, selectors, cleanup and restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
DATA = Path(__file__).parent / "data"
WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: {name}
spec:
  color: {color}
  replicas: {replicas}
"""


@pytest.fixture(scope="module")
def crd_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("crd") / "root")
    try:
        n.kubectl("apply", "-f", str(DATA / "widget-crd.yaml"))
        n.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com",
                  "--timeout=30s")
        yield n
    finally:
        stop_node(n)


def test_established_and_discovered(crd_node: Node) -> None:
    crd = json.loads(crd_node.kubectl("get", "crd", "widgets.example.com", "-o",
                                      "json").stdout)
    types = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert types == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    rows = crd_node.kubectl("get", "crds").stdout.splitlines()
    assert rows[0].split() == ["NAME", "CREATED", "AT"]
    assert rows[1].split()[0] == "widgets.example.com"
    out = crd_node.kubectl("api-resources", "--api-group=example.com").stdout
    assert "widgets" in out and "wd" in out and "Widget" in out


def test_schema_and_cel_validation(crd_node: Node) -> None:
    bad = crd_node.kubectl("apply", "-f", "-", check=False,
                           input=WIDGET.format(name="w0", color="green", replicas=1))
    assert 'spec.color: Unsupported value: "green": supported values: "red", "blue", "gold"' \
        in bad.stderr
    bad = crd_node.kubectl("apply", "-f", "-", check=False,
                           input=WIDGET.format(name="w0", color="red", replicas=11))
    assert ('The Widget "w0" is invalid: spec: Invalid value: "object": only gold widgets may '
            "have more than 10 replicas") in bad.stderr
    crd_node.kubectl("apply", "-f", "-", input=WIDGET.format(name="w1", color="red",
                                                              replicas=2))
    bad = crd_node.kubectl("apply", "-f", "-", check=False,
                           input=WIDGET.format(name="w1", color="blue", replicas=2))
    assert 'spec: Invalid value: "object": color is immutable' in bad.stderr


def test_defaults_pruning_and_strict(crd_node: Node) -> None:
    crd_node.kubectl("create", "--validate=false", "-f", "-", input=json.dumps({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"},
        "spec": {"color": "blue", "extra": 1}}))
    obj = json.loads(crd_node.kubectl("get", "widget", "w2", "-o", "json").stdout)
    assert obj["spec"] == {"color": "blue", "replicas": 1}
    strict = crd_node.kubectl("create", "--validate=strict", "-f", "-", check=False,
                              input=WIDGET.format(name="w3", color="red", replicas=1)
                              + "  bogus: 1\n")
    assert 'unknown field "spec.bogus"' in strict.stderr


def test_printer_columns_scale_and_selectors(crd_node: Node) -> None:
    crd_node.kubectl("apply", "-f", "-", input=WIDGET.format(name="w4", color="gold",
                                                              replicas=3))
    out = crd_node.kubectl("get", "widgets", "w4").stdout.splitlines()
    assert out[0].split() == ["NAME", "COLOR", "REPLICAS", "AGE"]
    assert out[1].split()[:3] == ["w4", "gold", "3"]
    crd_node.kubectl("scale", "widget/w4", "--replicas=5")
    assert crd_node.kubectl("get", "wd", "w4", "-o",
                            "jsonpath={.spec.replicas}").stdout == "5"
    names = crd_node.kubectl("get", "widgets", "--field-selector", "spec.color=gold", "-o",
                             "name").stdout.split()
    assert names == ["widget.example.com/w4"]
    assert "widget.example.com/w4" in crd_node.kubectl("get", "all", "-o", "name").stdout


def test_status_subresource_and_server_side_apply(crd_node: Node) -> None:
    crd_node.kubectl("apply", "--server-side", "-f", "-", input="""apiVersion: example.com/v1
kind: Widget
metadata:
  name: w5
spec:
  color: red
  ports:
  - name: http
    port: 80
""")
    crd_node.kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                     input="""apiVersion: example.com/v1
kind: Widget
metadata:
  name: w5
spec:
  color: red
  ports:
  - name: https
    port: 443
""")
    ports = json.loads(crd_node.kubectl("get", "widget", "w5", "-o",
                                        "jsonpath={.spec.ports}").stdout)
    assert sorted(p["name"] for p in ports) == ["http", "https"]  # list-map-keys merge
    crd_node.kubectl("patch", "widget", "w5", "--subresource=status", "--type=merge", "-p",
                     '{"status":{"replicas":7}}')
    crd_node.kubectl("patch", "widget", "w5", "--type=merge", "-p",
                     '{"status":{"replicas":9}}')
    assert crd_node.kubectl("get", "widget", "w5", "-o",
                            "jsonpath={.status.replicas}").stdout == "7"


def test_served_versions_and_deprecation(crd_node: Node) -> None:
    crd_node.kubectl("apply", "-f", "-", input=WIDGET.format(name="w7", color="red",
                                                              replicas=1).replace("/v1", "/v1beta1"))
    old = crd_node.kubectl("get", "widgets.v1beta1.example.com", "w7", "-o", "json")
    assert json.loads(old.stdout)["apiVersion"] == "example.com/v1beta1"
    assert "Warning: example.com/v1beta1 Widget is deprecated" in old.stderr
    assert crd_node.kubectl("get", "widget", "w7", "-o",
                            "jsonpath={.apiVersion}").stdout == "example.com/v1"
    watched = crd_node.kubectl("get", "--raw", "/apis/example.com/v1beta1/namespaces/default/"
                               "widgets?watch=true&timeoutSeconds=1&fieldSelector="
                               "metadata.name%3Dw7").stdout
    assert json.loads(watched.splitlines()[0])["object"]["apiVersion"] == "example.com/v1beta1"
    bad = crd_node.kubectl("apply", "-f", "-", check=False, input="""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: things, kind: Thing}
  conversion: {strategy: Webhook}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
  - {name: v2, served: true, storage: true, schema: {openAPIV3Schema: {}}}
""")
    assert 'The CustomResourceDefinition "things.example.com" is invalid' in bad.stderr
    assert ("spec.conversion.webhookClientConfig: Required value: required when strategy is "
            "set to Webhook") in bad.stderr
    assert "must have exactly one version marked as storage version" in bad.stderr
    assert ("spec.versions[1].schema.openAPIV3Schema.type: Required value: must not be empty "
            "at the root") in bad.stderr


def test_defaults_on_read_and_namespace_deletion(crd_node: Node) -> None:
    crd_node.kubectl("patch", "crd", "widgets.example.com", "--type=json", "-p", json.dumps([{
        "op": "add", "path": "/spec/versions/1/schema/openAPIV3Schema/properties/spec/"
                            "properties/size", "value": {"type": "string", "default": "M"}}]))
    assert crd_node.kubectl("get", "widget", "w1", "-o",
                            "jsonpath={.spec.size}").stdout == "M"
    crd_node.kubectl("create", "namespace", "gone-soon")
    crd_node.kubectl("apply", "-n", "gone-soon", "-f", "-",
                     input=WIDGET.format(name="w8", color="red", replicas=1))
    crd_node.kubectl("delete", "namespace", "gone-soon", "--timeout=30s")
    assert crd_node.kubectl("get", "widgets", "-A", "-o", "name").stdout.count("w8") == 0


def test_rbac_on_custom_resources(crd_node: Node) -> None:
    crd_node.kubectl("create", "role", "widget-reader", "--verb=get,list",
                     "--resource=widgets.example.com")
    crd_node.kubectl("create", "rolebinding", "bob-reads", "--role=widget-reader", "--user=bob")
    assert "w1" in crd_node.kubectl("get", "widgets", "--as=bob", "-o", "name").stdout
    denied = crd_node.kubectl("delete", "widget", "w1", "--as=bob", check=False)
    assert ('widgets.example.com "w1" is forbidden: User "bob" cannot delete resource '
            '"widgets" in API group "example.com" in the namespace "default"') in denied.stderr


def test_explain(crd_node: Node) -> None:
    out = crd_node.kubectl("explain", "widgets.spec").stdout
    assert "The desired widget." in out and "color" in out


def test_delete_crd_deletes_objects_and_restart_restores(crd_node: Node,
                                                         tmp_path: Path) -> None:
    crd_node.kubectl("apply", "-f", "-", input=WIDGET.format(name="w6", color="red",
                                                              replicas=1))
    stop_node(crd_node)
    restarted = start_node(crd_node.root)
    crd_node.process, crd_node.port = restarted.process, restarted.port
    assert "w6" in crd_node.kubectl("get", "widgets", "-o", "name").stdout
    crd_node.kubectl("patch", "widget", "w6", "--type=merge", "-p",
                     '{"metadata":{"finalizers":["example.com/hold"]}}')
    crd_node.kubectl("delete", "crd", "widgets.example.com", "--wait=false")
    crd = json.loads(crd_node.kubectl("get", "crd", "widgets.example.com", "-o",
                                      "json").stdout)
    assert {c["type"]: c["reason"] for c in crd["status"]["conditions"]}["Terminating"] == \
        "InstanceDeletionInProgress"
    refused = crd_node.kubectl("apply", "-f", "-", check=False,
                               input=WIDGET.format(name="w9", color="red", replicas=1))
    assert "create not allowed while custom resource definition is terminating" \
        in refused.stderr
    crd_node.kubectl("patch", "widget", "w6", "--type=merge", "-p",
                     '{"metadata":{"finalizers":null}}')
    assert crd_node.kubectl("get", "crd", "-o", "name").stdout == ""
    gone = crd_node.kubectl("get", "--raw", "/apis/example.com/v1/widgets", check=False)
    assert "NotFound" in gone.stderr
