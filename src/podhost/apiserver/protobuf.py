"""Decoding the Kubernetes protobuf envelope for the bodies typed clients send.

kubectl's typed clients (`kubectl create namespace|configmap|secret|serviceaccount`) POST
`application/vnd.kubernetes.protobuf`: the magic `k8s\\x00`, then a runtime.Unknown message
{typeMeta {apiVersion, kind}, raw, contentEncoding, contentType} whose `raw` is the object in
the field numbers of k8s.io/api/core/v1/generated.proto. Only the kinds listed in SCHEMAS are
decoded; anything else is a 415, which is honest rather than half-decoded.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from podhost.api import errors
from podhost.protowire import DecodeError, encode_field, encode_varint, fields

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Schema = dict[int, tuple[str, Any]]

OWNER_REFERENCE: Schema = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                           5: ("apiVersion", "string"), 6: ("controller", "bool"),
                           7: ("blockOwnerDeletion", "bool")}
OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
    10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("list", OWNER_REFERENCE)),
    14: ("finalizers", ("list", "string")),
}
OBJECT_REFERENCE: Schema = {1: ("kind", "string"), 2: ("namespace", "string"),
                            3: ("name", "string"), 4: ("uid", "string"),
                            5: ("apiVersion", "string"), 6: ("resourceVersion", "string"),
                            7: ("fieldPath", "string")}
SCHEMAS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", OBJECT_META),
                  2: ("spec", {1: ("finalizers", ("list", "string"))})},
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")),
               3: ("type", "string"), 4: ("stringData", ("map", "string")),
               5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", OBJECT_META),
                       2: ("secrets", ("list", OBJECT_REFERENCE)),
                       3: ("imagePullSecrets", ("list", {1: ("name", "string")})),
                       4: ("automountServiceAccountToken", "bool")},
}
SERVICE_PORT: Schema = {1: ("name", "string"), 2: ("protocol", "string"), 3: ("port", "int"),
                        4: ("targetPort", "intorstr"), 5: ("nodePort", "int"),
                        6: ("appProtocol", "string")}
SCHEMAS["Service"] = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("ports", ("list", SERVICE_PORT)), 2: ("selector", ("map", "string")),
                 3: ("clusterIP", "string"), 4: ("type", "string"),
                 5: ("externalIPs", ("list", "string")), 7: ("sessionAffinity", "string"),
                 10: ("externalName", "string"), 11: ("externalTrafficPolicy", "string"),
                 13: ("publishNotReadyAddresses", "bool"), 17: ("ipFamilyPolicy", "string"),
                 18: ("clusterIPs", ("list", "string")), 19: ("ipFamilies", ("list", "string")),
                 20: ("allocateLoadBalancerNodePorts", "bool"),
                 22: ("internalTrafficPolicy", "string")}),
}
# identity (k8s.io/api rbac/v1, authentication/v1, authorization/v1 generated.proto): what
# `kubectl create role|rolebinding|…`, `kubectl create token` and `kubectl auth` send
LABEL_SELECTOR: Schema = {1: ("matchLabels", ("map", "string")), 2: ("matchExpressions", (
    "list", {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ("list", "string"))}))}
POLICY_RULE: Schema = {1: ("verbs", ("list", "string")), 2: ("apiGroups", ("list", "string")),
                       3: ("resources", ("list", "string")),
                       4: ("resourceNames", ("list", "string")),
                       5: ("nonResourceURLs", ("list", "string"))}
SUBJECT: Schema = {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"),
                   4: ("namespace", "string")}
ROLE_REF: Schema = {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}
RESOURCE_ATTRIBUTES: Schema = {1: ("namespace", "string"), 2: ("verb", "string"),
                               3: ("group", "string"), 4: ("version", "string"),
                               5: ("resource", "string"), 6: ("subresource", "string"),
                               7: ("name", "string")}
ACCESS_SPEC: Schema = {1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
                       2: ("nonResourceAttributes", {1: ("path", "string"),
                                                     2: ("verb", "string")})}
for _kind in ("Role", "ClusterRole"):
    SCHEMAS[_kind] = {1: ("metadata", OBJECT_META), 2: ("rules", ("list", POLICY_RULE)),
                      3: ("aggregationRule", {1: ("clusterRoleSelectors",
                                                  ("list", LABEL_SELECTOR))})}
for _kind in ("RoleBinding", "ClusterRoleBinding"):
    SCHEMAS[_kind] = {1: ("metadata", OBJECT_META), 2: ("subjects", ("list", SUBJECT)),
                      3: ("roleRef", ROLE_REF)}
SCHEMAS["TokenRequest"] = {1: ("metadata", OBJECT_META), 2: ("spec", {
    1: ("audiences", ("list", "string")), 4: ("expirationSeconds", "int"),
    3: ("boundObjectRef", {1: ("kind", "string"), 2: ("apiVersion", "string"),
                           3: ("name", "string"), 4: ("uid", "string")})})}
SCHEMAS["SelfSubjectAccessReview"] = {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_SPEC)}
SCHEMAS["SubjectAccessReview"] = SCHEMAS["LocalSubjectAccessReview"] = {
    1: ("metadata", OBJECT_META), 2: ("spec", {
        **ACCESS_SPEC, 3: ("user", "string"), 4: ("groups", ("list", "string")),
        6: ("uid", "string")})}
SCHEMAS["SelfSubjectRulesReview"] = {1: ("metadata", OBJECT_META),
                                     2: ("spec", {1: ("namespace", "string")})}
SCHEMAS["SelfSubjectReview"] = {1: ("metadata", OBJECT_META)}
# networking/v1 (k8s.io/api/networking/v1/generated.proto): what `kubectl create ingress` sends;
# an IngressRule's IngressRuleValue is inline in JSON (its field name is "")
INGRESS_BACKEND: Schema = {
    4: ("service", {1: ("name", "string"), 2: ("port", {1: ("name", "string"),
                                                        2: ("number", "int")})}),
    3: ("resource", {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")})}
HTTP_PATHS: Schema = {1: ("paths", ("list", {1: ("path", "string"), 3: ("pathType", "string"),
                                              2: ("backend", INGRESS_BACKEND)}))}
SCHEMAS["Ingress"] = {1: ("metadata", OBJECT_META), 2: ("spec", {
    4: ("ingressClassName", "string"), 1: ("defaultBackend", INGRESS_BACKEND),
    2: ("tls", ("list", {1: ("hosts", ("list", "string")), 2: ("secretName", "string")})),
    3: ("rules", ("list", {1: ("host", "string"), 2: ("", {1: ("http", HTTP_PATHS)})}))})}
SCHEMAS["IngressClass"] = {1: ("metadata", OBJECT_META), 2: ("spec", {
    1: ("controller", "string"),
    2: ("parameters", {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string"),
                       4: ("scope", "string"), 5: ("namespace", "string")})})}
UNKNOWN: Schema = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
                   2: ("raw", "raw"), 3: ("contentEncoding", "string"),
                   4: ("contentType", "string")}


def _scalar(kind: Any, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "raw":
        return bytes(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if isinstance(kind, dict):
        return decode_message(bytes(value), kind)
    if kind == "intorstr":  # {type 0: intVal, 1: strVal}
        parts = {n: v for n, _w, v in fields(bytes(value))}
        return bytes(parts.get(3, b"")).decode("utf-8") if parts.get(1) == 1 else \
            int(parts.get(2, 0))
    raise DecodeError(f"unknown schema type {kind}")


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _wire, value in fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if name == "" and isinstance(kind, dict):  # an inline (embedded) struct
            obj.update(decode_message(bytes(value), kind))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _w, v in fields(bytes(value))}
            key = bytes(entry.get(1, b"")).decode("utf-8")
            obj.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple) and kind[0] == "list":
            obj.setdefault(name, []).append(_scalar(kind[1], value))
        else:
            scalar = _scalar(kind, value)
            if scalar not in ("", 0, False, {}):  # as JSON's omitempty would leave them out
                obj[name] = scalar
    return obj


def decode(body: bytes, expected_kind: str) -> dict[str, Any]:
    """The JSON-shaped object from a protobuf request body, or a 415/400 ApiError."""
    if expected_kind not in SCHEMAS:
        raise errors.UnsupportedMediaError(
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml (podhost decodes {CONTENT_TYPE} only for '
            f'{", ".join(sorted(SCHEMAS))})')
    try:
        if not body.startswith(MAGIC):
            raise DecodeError("provided data does not appear to be a protobuf message, "
                              "expected prefix [107 56 115 0]")
        unknown = decode_message(body[len(MAGIC):], UNKNOWN)
        type_meta = unknown.get("typeMeta", {})
        kind = type_meta.get("kind", "")
        if kind != expected_kind:
            raise DecodeError(f'the kind "{kind}" does not match')
        obj = decode_message(unknown.get("raw", b""), SCHEMAS[kind])
    except (DecodeError, UnicodeDecodeError) as e:
        raise errors.BadRequestError(f'{expected_kind} in version "v1" cannot be handled as a '
                                     f'{expected_kind}: {e}') from None
    return {"kind": kind, "apiVersion": type_meta.get("apiVersion") or "v1", **obj}


# Encoding: the gnostic `openapi.v2.Document` (github.com/google/gnostic openapiv2/OpenAPIv2.proto)
# that kubectl 1.27/1.28 download from /openapi/v2. Field numbers are those of that file.

PATH_ITEM_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7,
                   "patch": 8}
# (field number in QueryParameterSubSchema, in PathParameterSubSchema)
PARAMETER_FIELDS = {"required": (1, 1), "in": (2, 2), "description": (3, 3), "name": (4, 4),
                    "type": (6, 5), "format": (7, 6), "uniqueItems": (20, 19)}
NON_BODY_PARAMETER = {"query": 3, "path": 4}


def _string(number: int, value: str) -> bytes:
    return encode_field(number, value.encode()) if value else b""


def _bool(number: int, value: bool) -> bytes:
    return encode_varint(number << 3) + b"\x01" if value else b""


def _strings(number: int, values: list[str]) -> bytes:
    return b"".join(encode_field(number, v.encode()) for v in values)


def _vendor_extensions(number: int, obj: dict[str, Any]) -> bytes:
    """`x-…` keys as NamedAny{name, Any{yaml}}; JSON is valid YAML."""
    return b"".join(encode_field(number, _string(1, k) + encode_field(2, _string(2, json.dumps(v))))
                    for k, v in obj.items() if k.startswith("x-"))


def _parameter(param: dict[str, Any]) -> bytes:
    """ParametersItem{Parameter{NonBodyParameter{Query|PathParameterSubSchema}}}."""
    column = 0 if param["in"] == "query" else 1
    sub = b""
    for key, numbers in PARAMETER_FIELDS.items():
        value = param.get(key)
        sub += _bool(numbers[column], value) if isinstance(value, bool) else \
            _string(numbers[column], value or "")
    non_body = encode_field(NON_BODY_PARAMETER[param["in"]], sub)
    return encode_field(1, encode_field(2, non_body))


def _operation(op: dict[str, Any]) -> bytes:
    responses = b"".join(
        encode_field(1, _string(1, code) +
                     encode_field(2, encode_field(1, _string(1, r["description"]))))
        for code, r in op.get("responses", {}).items())
    return (_strings(1, op.get("tags", [])) + _string(5, op.get("operationId", "")) +
            _strings(6, op.get("produces", [])) + _strings(7, op.get("consumes", [])) +
            b"".join(encode_field(8, _parameter(p)) for p in op.get("parameters", [])) +
            encode_field(9, responses) + _vendor_extensions(13, op))


def _path_item(item: dict[str, Any]) -> bytes:
    out = b"".join(encode_field(PATH_ITEM_VERBS[verb], _operation(op))
                   for verb, op in item.items() if verb in PATH_ITEM_VERBS)
    return out + b"".join(encode_field(9, _parameter(p)) for p in item.get("parameters", []))


def encode_openapi_v2(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document without definitions as gnostic protobuf."""
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    paths = b"".join(encode_field(2, _string(1, path) + encode_field(2, _path_item(item)))
                     for path, item in doc.get("paths", {}).items())
    if doc.get("definitions"):
        raise ValueError("podhost encodes /openapi/v2 without definitions only")
    return _string(1, doc["swagger"]) + encode_field(2, info) + encode_field(8, paths)
