"""Ingress and IngressClass validation, defaults and the default class choice (pure), with
upstream's field paths and messages."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.api import ingress, ingresstable


def errs(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[str]:
    obj = {"metadata": {"name": "x", "annotations": annotations or {}}, "spec": spec}
    return [str(e) for e in ingress.validate_ingress(obj)]


SVC = {"service": {"name": "web", "port": {"number": 80}}}


def paths(*items: dict[str, Any], host: str = "") -> dict[str, Any]:
    return {"rules": [{"host": host, "http": {"paths": list(items)}}]}


@pytest.mark.parametrize(("path", "kind", "message"), [
    ("/a//b", "Prefix", 'spec.rules[0].http.paths[0].path: Invalid value: "/a//b": must not '
                        "contain '//'"),
    ("/a/..", "Exact", 'spec.rules[0].http.paths[0].path: Invalid value: "/a/..": cannot end '
                       "with '/..'"),
    ("/a%2fb", "Prefix", 'spec.rules[0].http.paths[0].path: Invalid value: "/a%2fb": must not '
                         "contain '%2f'"),
    ("", "Prefix", 'spec.rules[0].http.paths[0].path: Invalid value: "": must be an absolute '
                   "path"),
    ("rel", "ImplementationSpecific", 'spec.rules[0].http.paths[0].path: Invalid value: "rel": '
                                      "must be an absolute path"),
])
def test_path_rules(path: str, kind: str, message: str) -> None:
    assert message in errs(paths({"path": path, "pathType": kind, "backend": SVC}))


def test_implementation_specific_may_have_no_path_and_hosts_may_be_wildcards() -> None:
    assert errs(paths({"pathType": "ImplementationSpecific", "backend": SVC},
                      host="*.example.com")) == []
    assert any("wildcard DNS-1123 subdomain" in e
               for e in errs(paths({"path": "/", "pathType": "Prefix", "backend": SVC},
                                   host="a.*.example.com")))
    assert 'spec.rules[0].host: Invalid value: "Web.Example": a lowercase RFC 1123 subdomain' in \
        errs(paths({"path": "/", "pathType": "Prefix", "backend": SVC}, host="Web.Example"))[0]


def test_backends() -> None:
    assert errs({"defaultBackend": {}}) == [
        'spec.defaultBackend: Invalid value: "": resource or service backend is required']
    assert errs({"defaultBackend": {"service": {"name": "web", "port": {"name": "http",
                                                                         "number": 80}}}}) == [
        'spec.defaultBackend: Invalid value: "": cannot set both port name & port number']
    assert errs({"defaultBackend": {"service": {"name": "Web", "port": {"number": 70000}}}}) == [
        'spec.defaultBackend.service.name: Invalid value: "Web": a DNS-1035 label must consist '
        "of lower case alphanumeric characters or '-', start with an alphabetic character, and "
        "end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        "spec.defaultBackend.service.port.number: Invalid value: 70000: must be between 1 and "
        "65535, inclusive"]
    assert errs({"defaultBackend": {"resource": {"kind": "a/b"}}}) == [
        "spec.defaultBackend.resource.kind: Invalid value: \"a/b\": may not contain '/'",
        "spec.defaultBackend.resource.name: Required value"]


def test_tls_and_class_annotation() -> None:
    assert errs({"defaultBackend": SVC, "tls": [{"secretName": "Bad_Name"}]})[0].startswith(
        'spec.tls[0].secretName: Invalid value: "Bad_Name"')
    assert errs({"defaultBackend": SVC, "ingressClassName": "a"},
                {"kubernetes.io/ingress.class": "b"}) == [
        'annotations.kubernetes.io/ingress.class: Invalid value: "b": must match '
        "`ingressClassName` when both are specified"]
    assert errs({"rules": []}) == [
        "spec: Invalid value: []networking.IngressRule{}: either `defaultBackend` or `rules` "
        "must be specified"]


def test_default_class_is_the_newest_marked_one() -> None:
    def cls(name: str, created: str, default: str = "true") -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created,
                             "annotations": {ingress.DEFAULT_CLASS_ANNOTATION: default}}}
    classes = [cls("old", "2026-01-01T00:00:00Z"), cls("b", "2026-02-01T00:00:00Z"),
               cls("a", "2026-02-01T00:00:00Z"), cls("off", "2026-03-01T00:00:00Z", "false")]
    assert ingress.default_class_name(classes) == "a"
    assert ingress.default_class_name(classes[3:]) is None
    obj: dict[str, Any] = {"metadata": {"name": "x"}, "spec": {}}
    ingress.admit_default_class(obj, classes)
    assert obj["spec"]["ingressClassName"] == "a"


def test_table_cells() -> None:
    rules = [{"host": h} for h in ("a", "b", "c", "d", "e")]
    assert ingresstable.hosts_text(rules) == "a,b,c + 2 more..."
    assert ingresstable.hosts_text([{}]) == "*"
    status = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.22"}]}}
    assert ingresstable.address_text(status) == "10.0.0.1,10.0..."
    ic = {"metadata": {"name": "x"}, "spec": {"controller": "a.io/c", "parameters": {
        "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}}
    from datetime import datetime, timezone
    assert ingresstable.ingressclass_cells(ic, datetime.now(timezone.utc))[:3] == [
        "x", "a.io/c", "IngressParameters.k8s.example.com/p"]
