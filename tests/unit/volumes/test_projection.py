"""Payloads of configMap, secret, downwardAPI and projected volumes (pure)."""

from __future__ import annotations

import base64

import pytest

from podhost.volumes import projection
from podhost.volumes.emptydir import VolumeSetupError

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u",
                    "labels": {"b": "2", "a": 'x"y'}},
       "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}]}}
OBJECTS = {("configmaps", "cm"): {"data": {"k1": "v1", "k2": "v2"},
                                  "binaryData": {"bin": base64.b64encode(b"\0").decode()}},
           ("secrets", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}}}


def get(resource: str, name: str):
    return OBJECTS.get((resource, name))


def payload(volume: dict):
    return projection.payload(volume, POD, get, (1 << 30, 2))


def test_config_map_all_keys_and_items() -> None:
    assert payload({"configMap": {"name": "cm"}}) == {
        "k1": (b"v1", 0o644), "k2": (b"v2", 0o644), "bin": (b"\0", 0o644)}
    assert payload({"configMap": {"name": "cm", "defaultMode": 0o400, "items": [
        {"key": "k1", "path": "sub/one"}, {"key": "k2", "path": "two", "mode": 0o600}]}}) == {
        "sub/one": (b"v1", 0o400), "two": (b"v2", 0o600)}


def test_missing_objects_and_keys() -> None:
    with pytest.raises(VolumeSetupError, match='^configmap "nope" not found$'):
        payload({"configMap": {"name": "nope"}})
    assert payload({"configMap": {"name": "nope", "optional": True}}) == {}
    with pytest.raises(VolumeSetupError,
                       match="^configmap references non-existent config key: zz$"):
        payload({"configMap": {"name": "cm", "items": [{"key": "zz", "path": "z"}]}})
    with pytest.raises(VolumeSetupError, match='^secret "x" not found$'):
        payload({"secret": {"secretName": "x"}})


def test_secret_and_downward_and_projected() -> None:
    assert payload({"secret": {"secretName": "s"}}) == {"pw": (b"hunter2", 0o644)}
    down = {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                      {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                      {"path": "b", "fieldRef": {"fieldPath": "metadata.labels['b']"}},
                      {"path": "mem", "resourceFieldRef": {"containerName": "c",
                                                           "resource": "limits.memory",
                                                           "divisor": "1Mi"}}]}
    assert payload({"downwardAPI": down}) == {
        "labels": (b'a="x\\"y"\nb="2"', 0o644), "name": (b"p", 0o644), "b": (b"2", 0o644),
        "mem": (b"64", 0o644)}
    assert payload({"projected": {"defaultMode": 0o440, "sources": [
        {"configMap": {"name": "cm", "items": [{"key": "k1", "path": "k1"}]}},
        {"secret": {"name": "s"}}]}}) == {"k1": (b"v1", 0o440), "pw": (b"hunter2", 0o440)}


class Tokens:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    def pod_token(self, pod: dict, audience: str, expiration_seconds: int) -> str:
        self.asked.append((pod["metadata"]["uid"], audience, expiration_seconds))
        if audience == "nobody":
            raise LookupError('serviceaccounts "default" not found')
        return "jwt"


def test_kube_api_access_volume() -> None:
    from podhost.api.serviceaccount import api_access_volume
    tokens = Tokens()
    volume = api_access_volume("abcde")
    files = projection.payload(volume, POD, lambda r, n: {"data": {"ca.crt": "CA"}}
                               if (r, n) == ("configmaps", "kube-root-ca.crt") else None,
                               (1 << 30, 2), tokens)
    assert files == {"token": (b"jwt", 0o644), "ca.crt": (b"CA", 0o644),
                     "namespace": (b"ns", 0o644)}
    assert tokens.asked == [("u", "", 3607)]
    with pytest.raises(VolumeSetupError, match="failed to fetch token"):
        projection.payload({"projected": {"sources": [{"serviceAccountToken": {
            "audience": "nobody", "path": "t"}}]}}, POD, get, (1 << 30, 2), tokens)
