"""CRD conversion strategy Webhook, the pure parts: spec.conversion validation and the
ConversionReview's request and response checks (webhook_converter.go's messages)."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.api.apiextensions import conversion
from podhost.api.apiextensions.conversion import ConversionError

CRD: dict[str, Any] = {"spec": {"conversion": {"strategy": "Webhook", "webhook": {
    "clientConfig": {"url": "https://127.0.0.1:9443/convert"},
    "conversionReviewVersions": ["v1"]}}}}
OBJ = {"apiVersion": "example.com/v1", "kind": "Thing",
       "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                    "labels": {"x": "1"}},
       "spec": {"colour": "red"}}


def _errors(conv: dict[str, Any]) -> list[str]:
    return [str(e) for e in conversion.validate(conv)]


@pytest.mark.parametrize("conv, want", [
    (CRD["spec"]["conversion"], []),
    ({"strategy": "None"}, []),
    ({"strategy": "None", "webhook": {"clientConfig": {"url": "https://x"},
                                      "conversionReviewVersions": ["v1"]}},
     ["spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is "
      "not set to Webhook",
      "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy "
      "is not set to Webhook"]),
    ({"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"]}},
     ["spec.conversion.webhookClientConfig: Required value: required when strategy is set "
      "to Webhook"]),
    ({"strategy": "Webhook", "webhook": {"clientConfig": {}, "conversionReviewVersions": ["v1"]}},
     ["spec.conversion.webhookClientConfig: Required value: exactly one of url or service is "
      "required"]),
    ({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "http://x/c"},
                                         "conversionReviewVersions": ["v2"]}},
     ["spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only "
      "allowed URL scheme",
      'spec.conversion.conversionReviewVersions: Invalid value: []interface {}{"v2"}: must '
      "include at least one of v1, v1beta1"]),
    ({"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"namespace": "ns"}}}},
     ["spec.conversion.webhookClientConfig.service.name: Required value: service name is "
      "required", "spec.conversion.conversionReviewVersions: Required value"]),
])
def test_validate(conv: dict[str, Any], want: list[str]) -> None:
    got = _errors(conv)
    assert [g.split(": ")[:2] for g in got] == [w.split(": ")[:2] for w in want]
    assert [g.split(": ")[-1] for g in got] == [w.split(": ")[-1] for w in want]


def _answer(objects: list[Any], uid: str = "u", status: str = "Success",
            message: str = "") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": uid, "convertedObjects": objects,
                         "result": {"status": status, "message": message}}}


def test_review_request() -> None:
    review = conversion.review(CRD, [OBJ], "example.com/v2", "u")
    assert review == {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                      "request": {"uid": "u", "desiredAPIVersion": "example.com/v2",
                                  "objects": [OBJ]}}


def test_converted_restores_metadata_but_labels() -> None:
    new = {"apiVersion": "example.com/v2", "kind": "Thing",
           "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "1",
                        "labels": {"y": "2"}}, "spec": {"color": "red"}}
    [out] = conversion.converted(CRD, [OBJ], "example.com/v2", "u", _answer([new]))
    assert out["spec"] == {"color": "red"}
    assert out["metadata"] == {**OBJ["metadata"], "labels": {"y": "2"}}


@pytest.mark.parametrize("answer, want", [
    (_answer([], uid="other"), 'conversion webhook for example.com/v1, Kind=Thing failed: '
                               'expected response.uid="u", got "other"'),
    (_answer([], status="Failure", message="no way"),
     "conversion webhook for example.com/v1, Kind=Thing failed: no way"),
    (_answer([]), "conversion webhook for example.com/v1, Kind=Thing returned 0 objects, "
                  "expected 1"),
    (_answer([{**OBJ, "apiVersion": "example.com/v3"}]),
     "conversion webhook for example.com/v1, Kind=Thing returned invalid object at "
     "index 0: invalid groupVersion (expected example.com/v2, received example.com/v3)"),
    (_answer([{**OBJ, "apiVersion": "example.com/v2", "kind": "Other"}]),
     "conversion webhook for example.com/v1, Kind=Thing returned invalid object at "
     "index 0: invalid kind (expected Thing, received Other)"),
    (_answer([{**OBJ, "apiVersion": "example.com/v2", "metadata": {**OBJ["metadata"],
                                                                  "name": "b"}}]),
     "conversion webhook for example.com/v1, Kind=Thing returned invalid object: "
     "must have the same name: a != b"),
    (_answer([{**OBJ, "apiVersion": "example.com/v2", "metadata": {**OBJ["metadata"],
                                                                  "labels": {"x": 1}}}]),
     "conversion webhook for example.com/v1, Kind=Thing returned invalid metadata: "
     "metadata.labels[x] must be a string, but is int in converted object"),
])
def test_converted_errors(answer: dict[str, Any], want: str) -> None:
    with pytest.raises(ConversionError) as e:
        conversion.converted(CRD, [OBJ], "example.com/v2", "u", answer)
    assert str(e.value) == want


def test_list_item_errors_count_as_upstream() -> None:
    """A list's item errors name the index after the item's (convertedIndex++ comes first)."""
    answer = _answer([{**OBJ, "apiVersion": "example.com/v2", "metadata": {
        **OBJ["metadata"], "uid": "u2"}}])
    with pytest.raises(ConversionError) as e:
        conversion.converted(CRD, [OBJ], "example.com/v2", "u", answer, listed=True)
    assert str(e.value) == ("conversion webhook for example.com/v1, Kind=Thing returned "
                            "invalid converted object at index 1: must have the same UID: "
                            "u1 != u2")
