"""/openapi/v2 for kubectl 1.27/1.28: the gnostic protobuf form and the query-port parsing of
the channel port-forward protocol."""

from __future__ import annotations

import json

import pytest

from podhost import protowire
from podhost.api import errors
from podhost.apiserver import discovery, portforward, protobuf
from podhost.apiserver.http import Request


def submessages(data: bytes, number: int) -> list[bytes]:
    return [bytes(v) for n, _w, v in protowire.fields(data) if n == number]


def named(data: bytes, number: int) -> dict[str, bytes]:
    """Repeated Named* messages {1: name, 2: value} as a dict."""
    out = {}
    for entry in submessages(data, number):
        parts = dict((n, bytes(v)) for n, _w, v in protowire.fields(entry))
        out[parts[1].decode()] = parts.get(2, b"")
    return out


def test_pod_patch_operation_advertises_field_validation() -> None:
    """What kubectl 1.27's QueryParamVerifier looks for before trusting server validation."""
    doc = protobuf.encode_openapi_v2(discovery.openapi_v2())
    assert submessages(doc, 1) == [b"2.0"]
    paths = named(submessages(doc, 8)[0], 2)
    patch = submessages(paths["/api/v1/namespaces/{namespace}/pods/{name}"], 8)[0]
    extensions = {k: json.loads(submessages(v, 2)[0]) for k, v in named(patch, 13).items()}
    assert extensions["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                             "kind": "Pod"}
    names = set()
    for item in submessages(patch, 8):
        query = submessages(submessages(submessages(item, 1)[0], 2)[0], 3)
        names |= {submessages(q, 4)[0].decode() for q in query}
    assert "fieldValidation" in names


def test_openapi_v2_answers_protobuf_or_json() -> None:
    pb = discovery.openapi_v2_response(discovery.OPENAPI_V2_PROTOBUF)
    assert pb.content_type == discovery.OPENAPI_V2_PROTOBUF_REPLY
    assert "@" not in pb.content_type  # Go's mime.ParseMediaType rejects it
    plain = discovery.openapi_v2_response("application/json")
    assert json.loads(plain.body)["swagger"] == "2.0"


def request(target: str) -> Request:
    from podhost.apiserver.http import parse_target
    path, query = parse_target(target)
    return Request("GET", path, query, {}, [])


def test_query_ports() -> None:
    assert portforward.query_ports(request("/x?ports=80,8080&ports=9")) == [80, 8080, 9]
    for bad in ("/x", "/x?ports=0", "/x?ports=http", "/x?ports=70000"):
        with pytest.raises(errors.BadRequestError):
            portforward.query_ports(request(bad))
