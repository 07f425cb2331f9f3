"""One protobuf decoder for every served kind and the option types, from generated schemas:
Helm deletes a Secret with a protobuf DeleteOptions body; zero values Go keeps stay."""

from __future__ import annotations

import asyncio
from pathlib import Path

from podhost.api import registry
from podhost.apiserver import protobuf
from podhost.protowire import encode_field as f
from podhost.protowire import encode_varint
from tests.unit.apiserver.helpers import call, make_api, request

NOT_IN_K8S_API = {"CustomResourceDefinition"}  # apiextensions-apiserver's, served read-only


def s(number: int, text: str) -> bytes:
    return f(number, text.encode())


def v(number: int, value: int) -> bytes:
    return encode_varint(number << 3) + encode_varint(value & (2**64 - 1))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + f(1, s(1, api_version) + s(2, kind)) + f(2, raw)


def test_every_served_kind_and_option_type_has_a_schema() -> None:
    for served in registry.resources():
        if served.kind not in NOT_IN_K8S_API:
            assert protobuf.message_name(served.api_version, served.kind), served.name
    for kind in ("DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions",
                 "ListOptions", "GetOptions"):
        assert protobuf.message_name("v1", kind) == f"meta/v1.{kind}"
        assert protobuf.message_name("meta.k8s.io/v1", kind) == f"meta/v1.{kind}"
    assert protobuf.message_name("events.k8s.io/v1", "Event") == "events/v1.Event"
    assert protobuf.message_name("v1", "Event") == "core/v1.Event"


def test_delete_options_keep_the_zeros_go_keeps() -> None:
    raw = v(1, 0) + s(4, "Foreground") + f(2, s(1, "uid-1")) + s(5, "All")
    options = protobuf.decode(envelope("v1", "DeleteOptions", raw), "DeleteOptions")
    assert options == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                       "propagationPolicy": "Foreground", "preconditions": {"uid": "uid-1"},
                       "dryRun": ["All"]}


def test_workloads_rbac_and_durations_decode() -> None:
    selector = f(1, f(1, s(1, "app") + s(2, "web")))
    template = f(1, f(11, s(1, "app") + s(2, "web"))) + f(2, f(2, s(1, "c") + s(2, "nginx")))
    spec = v(1, 0) + f(2, selector) + f(3, template) + v(5, 0)
    deploy = protobuf.decode(envelope("apps/v1", "Deployment", f(1, s(1, "web")) + f(2, spec)),
                             "Deployment")
    assert deploy["spec"]["replicas"] == 0  # a pointer: 0 is not "unset"
    assert "minReadySeconds" not in deploy["spec"]  # omitempty int: Go's JSON leaves it out
    assert deploy["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "nginx"}]
    role = protobuf.decode(envelope("rbac.authorization.k8s.io/v1", "Role", f(1, s(1, "r")) + f(
        2, s(1, "get") + s(2, "") + s(3, "pods"))), "Role")
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    assert protobuf.go_duration(3_723_500_000_000) == "1h2m3.5s"
    assert protobuf.go_duration(0) == "0s"
    assert protobuf.go_duration(90 * 10**9) == "1m30s"


def test_a_protobuf_delete_of_a_secret(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sh.helm.v1"},
                  "data": {"a": "Yg=="}}
        assert (await call(api, "POST", "/api/v1/namespaces/default/secrets", secret))[0] == 201
        body = envelope("v1", "DeleteOptions", s(4, "Background"))
        resp = await api.handle(request("DELETE", "/api/v1/namespaces/default/secrets/sh.helm.v1",
                                        body, headers={"content-type": protobuf.CONTENT_TYPE}))
        assert resp.status == 200, getattr(resp, "body", b"")
        code, _ = await call(api, "GET", "/api/v1/namespaces/default/secrets/sh.helm.v1")
        assert code == 404
    asyncio.run(go())


def test_every_message_a_schema_names_is_in_the_table() -> None:
    scalars = {"string", "int", "bool", "bytes", "double", "intorstr", "quantity", "time",
               "duration", "raw", "stringlist"}
    table = protobuf.schemas()
    for name, fields in table.items():
        for key, kind, flags in fields.values():
            inner = kind[1] if isinstance(kind, list) else kind
            assert inner in scalars or inner in table, (name, key, inner)
            assert key or flags == "i", (name, kind)  # only embedded structs have no name
