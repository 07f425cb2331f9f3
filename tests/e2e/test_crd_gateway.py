"""The Gateway API v1.2.1 standard CRDs (the release's config/crd/standard, unmodified in
tests/e2e/data) install as a new user installs them, and their CEL rules speak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e
CRDS = Path(__file__).parent / "data" / "gateway-api-v1.2.1"
ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [example.com]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: "{path}"}}
    backendRefs: [{{name: svc, port: 80}}]
"""


@pytest.fixture(scope="module")
def gw_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(tmp_path_factory.mktemp("gateway") / "root")
    try:
        yield n
    finally:
        stop_node(n)


def test_standard_crds_become_established(gw_node: Node) -> None:
    out = gw_node.kubectl("apply", "-f", str(CRDS)).stdout
    assert out.count("created") == 5
    waited = gw_node.kubectl("wait", "--for=condition=Established", "crd", "--all",
                             "--timeout=30s").stdout
    assert waited.count("condition met") == 5
    resources = gw_node.kubectl("api-resources", "--api-group=gateway.networking.k8s.io",
                                "-o", "name").stdout.split()
    assert resources == ["gatewayclasses.gateway.networking.k8s.io",
                         "gateways.gateway.networking.k8s.io",
                         "grpcroutes.gateway.networking.k8s.io",
                         "httproutes.gateway.networking.k8s.io",
                         "referencegrants.gateway.networking.k8s.io"]


def test_cel_rule_rejects_an_invalid_route(gw_node: Node) -> None:
    bad = gw_node.kubectl("apply", "-f", "-", check=False,
                          input=ROUTE.format(name="bad", path="/foo//bar"))
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'The HTTPRoute "bad" is invalid: spec.rules[0].matches[0].path: Invalid value: '
        "\"object\": must not contain '//' when type one of ['Exact', 'PathPrefix']")
    both = gw_node.kubectl("apply", "-f", "-", check=False, input="""\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both}
spec:
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https}
    - type: URLRewrite
      urlRewrite: {hostname: x}
""")
    assert ("spec.rules[0].filters: Invalid value: \"array\": May specify either "
            "httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both"
            ) in both.stderr


def test_valid_route_gets_defaults_and_columns(gw_node: Node) -> None:
    gw_node.kubectl("apply", "-f", "-", input=ROUTE.format(name="good", path="/api"))
    ref = gw_node.kubectl("get", "httproute", "good", "-o",
                          "jsonpath={.spec.parentRefs[0].kind}/{.spec.rules[0].backendRefs[0]"
                          ".weight}").stdout
    assert ref == "Gateway/1"
    rows = gw_node.kubectl("get", "httproutes").stdout.splitlines()
    assert rows[0].split() == ["NAME", "HOSTNAMES", "AGE"]
    assert rows[1].split()[:2] == ["good", '["example.com"]']
    gw_node.kubectl("apply", "-f", "-", input="""\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: podhost}
spec: {controllerName: example.com/gateway-controller}
""")
    classes = gw_node.kubectl("get", "gc").stdout.splitlines()
    assert classes[0].split() == ["NAME", "CONTROLLER", "ACCEPTED", "AGE"]
    assert classes[1].split()[:2] == ["podhost", "example.com/gateway-controller"]
