"""Ingress and IngressClass through the in-process API server: the seeded default class, the
DefaultIngressClass admission, validation errors as 422 with field paths, tables, status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.unit.apiserver.helpers import call, make_api

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
BASE = "/apis/networking.k8s.io/v1"


def ingress(name: str, **spec: Any) -> dict[str, Any]:
    spec = spec or {"rules": [{"host": "a.localhost", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": spec}


def test_default_class_is_seeded_and_given_to_new_ingresses(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, ic = await call(api, "GET", f"{BASE}/ingressclasses/podhost")
        assert code == 200
        assert ic["spec"] == {"controller": "podhost.io/ingress-controller"}
        assert ic["metadata"]["annotations"] == {
            "ingressclass.kubernetes.io/is-default-class": "true"}
        code, ing = await call(api, "POST", f"{BASE}/namespaces/default/ingresses",
                               ingress("web"))
        assert code == 201, ing
        assert ing["spec"]["ingressClassName"] == "podhost"
        assert ing["status"] == {} and ing["metadata"]["generation"] == 1
        legacy = ingress("legacy")
        legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
        code, ing = await call(api, "POST", f"{BASE}/namespaces/default/ingresses", legacy)
        assert code == 201 and "ingressClassName" not in ing["spec"]
        code, table = await call(api, "GET", f"{BASE}/namespaces/default/ingresses/web",
                                 headers={"accept": TABLE})
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name", "Class", "Hosts", "Address", "Ports", "Age"]
        assert table["rows"][0]["cells"][:5] == ["web", "podhost", "a.localhost", "", "80"]
        code, table = await call(api, "GET", f"{BASE}/ingressclasses", headers={"accept": TABLE})
        assert table["rows"][0]["cells"][:3] == ["podhost", "podhost.io/ingress-controller",
                                                 "<none>"]
    asyncio.run(go())


def test_invalid_ingresses_are_refused_with_upstream_messages(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        backend = {"service": {"name": "web", "port": {"number": 80}},
                   "resource": {"kind": "Bucket", "name": "b"}}
        bad = ingress("bad", rules=[
            {"host": "*.*.example.com", "http": {"paths": [
                {"path": "foo", "pathType": "Exact", "backend": backend},
                {"path": "/a", "pathType": "Regex",
                 "backend": {"service": {"name": "web"}}}]}},
            {"host": "10.0.0.1", "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}])
        code, status = await call(api, "POST", f"{BASE}/namespaces/default/ingresses", bad)
        assert code == 422
        causes = [(c["field"], c["message"]) for c in status["details"]["causes"]]
        assert ("spec.rules[0].http.paths[0].path",
                'Invalid value: "foo": must be an absolute path') in causes
        assert ("spec.rules[0].http.paths[0].backend",
                'Invalid value: "": cannot set both resource and service backends') in causes
        assert ("spec.rules[0].http.paths[1].pathType",
                'Unsupported value: "Regex": supported values: "Exact", '
                '"ImplementationSpecific", "Prefix"') in causes
        assert ("spec.rules[0].http.paths[1].backend",
                "Required value: port name or number is required") in causes
        assert ("spec.rules[1].host",
                'Invalid value: "10.0.0.1": must be a DNS name, not an IP address') in causes
        assert ("spec.rules[1].http.paths[0].pathType",
                "Required value: pathType must be specified") in causes
        assert any(f == "spec.rules[0].host" and "wildcard DNS-1123" in m for f, m in causes)
        code, status = await call(api, "POST", f"{BASE}/namespaces/default/ingresses",
                                  ingress("empty", tls=[]))
        assert code == 422
        assert status["message"] == ('Ingress.networking.k8s.io "empty" is invalid: spec: '
                                     "Invalid value: []networking.IngressRule(nil): either "
                                     "`defaultBackend` or `rules` must be specified")
    asyncio.run(go())


def test_ingress_class_validation_and_immutable_controller(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        ic = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
              "metadata": {"name": "other"},
              "spec": {"controller": "example.com/ctl",
                       "parameters": {"kind": "Params", "name": "p", "namespace": "x"}}}
        code, status = await call(api, "POST", f"{BASE}/ingressclasses", ic)
        assert code == 422, status
        assert status["details"]["causes"][0]["field"] == "spec.parameters.namespace"
        assert "`parameters.scope` is set to 'Cluster'" in status["details"]["causes"][0][
            "message"]
        del ic["spec"]["parameters"]["namespace"]
        code, created = await call(api, "POST", f"{BASE}/ingressclasses", ic)
        assert code == 201 and created["spec"]["parameters"]["scope"] == "Cluster"
        created["spec"]["controller"] = "example.com/other"
        code, status = await call(api, "PUT", f"{BASE}/ingressclasses/other", created)
        assert code == 422
        assert status["details"]["causes"][0]["message"] == \
            'Invalid value: "example.com/other": field is immutable'
        ic2 = {**ic, "metadata": {"name": "bad"}, "spec": {"controller": "nodomain"}}
        code, status = await call(api, "POST", f"{BASE}/ingressclasses", ic2)
        assert code == 422
        assert status["details"]["causes"][0]["message"] == \
            'Invalid value: "nodomain": must be a domain-prefixed path (such as "acme.io/foo")'
    asyncio.run(go())


def test_status_subresource_keeps_spec(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, ing = await call(api, "POST", f"{BASE}/namespaces/default/ingresses",
                               ingress("web"))
        ing["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
        ing["spec"]["rules"][0]["host"] = "changed.localhost"
        code, got = await call(api, "PUT", f"{BASE}/namespaces/default/ingresses/web/status",
                               ing)
        assert code == 200, got
        assert got["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]
        assert got["spec"]["rules"][0]["host"] == "a.localhost"
        code, table = await call(api, "GET", f"{BASE}/namespaces/default/ingresses",
                                 headers={"accept": TABLE})
        assert table["rows"][0]["cells"][3] == "127.0.0.1"
    asyncio.run(go())
