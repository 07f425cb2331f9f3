"""CRD conversion strategy `Webhook`, the pure parts (apiextensions-apiserver's
validation.validateCustomResourceConversion and conversion/webhook_converter.go): the CRD's
`spec.conversion` checked, the ConversionReview sent, and its response checked and restored
(only labels and annotations of a converted object may differ from the original's metadata).
apiserver/conversion.py makes the HTTPS call."""

from __future__ import annotations

import copy
import re
from typing import Any

from podhost.api import errors
from podhost.api.errors import FieldError
from podhost.api.types import Obj

REVIEW_VERSIONS = ("v1", "v1beta1")  # acceptedConversionReviewVersions
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class ConversionError(Exception):
    """A conversion that failed; the message is upstream's."""


def webhook_strategy(crd: Obj) -> bool:
    return ((crd.get("spec") or {}).get("conversion") or {}).get("strategy") == "Webhook"


def validate(conversion: Obj) -> list[FieldError]:
    """validateCustomResourceConversion (its paths are the internal type's, as upstream
    reports them: `webhookClientConfig`)."""
    path = "spec.conversion"
    webhook = conversion.get("webhook") or {}
    client = webhook.get("clientConfig")
    review_versions = webhook.get("conversionReviewVersions") or []
    strategy = conversion.get("strategy")
    if strategy != "Webhook":
        errs = []
        if client is not None:
            errs.append(errors.forbidden(f"{path}.webhookClientConfig",
                                         "should not be set when strategy is not set to Webhook"))
        if review_versions:
            errs.append(errors.forbidden(f"{path}.conversionReviewVersions",
                                         "should not be set when strategy is not set to Webhook"))
        return errs
    errs = _client_config(client, f"{path}.webhookClientConfig")
    return errs + _review_versions(review_versions, f"{path}.conversionReviewVersions")


def _client_config(client: Any, path: str) -> list[FieldError]:
    if not isinstance(client, dict):
        return [errors.required(path, "required when strategy is set to Webhook")]
    url, service = client.get("url"), client.get("service")
    if (url is None) == (service is None):
        return [errors.required(path, "exactly one of url or service is required")]
    if url is not None:
        return _url(str(url), f"{path}.url")
    if not isinstance(service, dict):
        return [errors.invalid(f"{path}.service", service, "must be an object")]
    errs = []
    if not service.get("name"):
        errs.append(errors.required(f"{path}.service.name", "service name is required"))
    if not service.get("namespace"):
        errs.append(errors.required(f"{path}.service.namespace",
                                    "service namespace is required"))
    port = service.get("port", 443)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        errs.append(errors.invalid(f"{path}.service.port", port,
                                   "port is not valid: must be between 1 and 65535, inclusive"))
    return errs


def _url(url: str, path: str) -> list[FieldError]:
    """webhook.ValidateWebhookURL with forceHttps."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError as e:
        return [errors.invalid(path, url, f"url must be a valid URL: {e}")]
    errs = []
    if parts.scheme != "https":
        errs.append(errors.invalid(path, parts.scheme, "'https' is the only allowed URL scheme"))
    if not parts.hostname:
        errs.append(errors.invalid(path, parts.hostname or "", "host must be specified"))
    if parts.username or parts.password:
        errs.append(errors.invalid(path, parts.username or "", "user information is not "
                                   "permitted in the URL"))
    if parts.fragment:
        errs.append(errors.invalid(path, parts.fragment, "fragments are not permitted in the URL"))
    if parts.query:
        errs.append(errors.invalid(path, parts.query, "query parameters are not permitted in "
                                   "the URL"))
    return errs


def _review_versions(versions: list[Any], path: str) -> list[FieldError]:
    if not versions:
        return [errors.required(path, "")]
    errs, seen = [], set()
    for i, v in enumerate(versions):
        if v in seen:
            errs.append(errors.invalid(f"{path}[{i}]", v, "duplicate version"))
            continue
        seen.add(v)
        if not isinstance(v, str) or not _DNS1035.match(v):
            errs.append(errors.invalid(f"{path}[{i}]", v, "a DNS-1035 label must consist of "
                                       "lower case alphanumeric characters or '-', start with "
                                       "an alphabetic character, and end with an alphanumeric "
                                       "character (e.g. 'my-name',  or 'abc-123', regex used for "
                                       "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"))
    if not any(v in REVIEW_VERSIONS for v in versions):
        errs.append(errors.invalid(path, versions, "must include at least one of v1, v1beta1"))
    return errs


def review_version(crd: Obj) -> str:
    """The first ConversionReview version of the CRD's list podhost speaks."""
    webhook = crd["spec"]["conversion"].get("webhook") or {}
    for v in webhook.get("conversionReviewVersions") or []:
        if v in REVIEW_VERSIONS:
            return str(v)
    raise ConversionError("no supported conversion review versions")


def review(crd: Obj, objects: list[Obj], desired: str, uid: str) -> Obj:
    return {"apiVersion": f"apiextensions.k8s.io/{review_version(crd)}",
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects}}


def gvk(obj: Obj) -> str:
    """A GroupVersionKind as Go's %v prints it."""
    return f"{obj.get('apiVersion', '')}, Kind={obj.get('kind', '')}"


def converted(crd: Obj, objects: list[Obj], desired: str, uid: str, answer: Any,
              listed: bool = False) -> list[Obj]:
    """getConvertedObjectsFromResponse and the checks of Convert: the converted objects, with
    the originals' metadata except labels and annotations. `listed`: the objects are a
    list's items (upstream's messages differ)."""
    where = gvk(objects[0])
    try:
        out = _response_objects(crd, uid, answer)
    except ConversionError as e:
        raise ConversionError(f"conversion webhook for {where} failed: {e}") from None
    if len(out) != len(objects):
        raise ConversionError(f"conversion webhook for {where} returned {len(out)} objects, "
                              f"expected {len(objects)}")
    return [_checked(original, new, desired, f"conversion webhook for {where} returned",
                     i + 1 if listed else None)
            for i, (original, new) in enumerate(zip(objects, out, strict=True))]


def _checked(original: Obj, new: Any, desired: str, prefix: str, index: int | None) -> Obj:
    """One converted object checked with Convert's messages: a list item's `index` is the
    one after its own, as upstream counts it; None for a single object."""
    at = f"{prefix} invalid object at index 0" if index is None else \
        f"{prefix} invalid converted object at index {index}"
    if not isinstance(new, dict):
        raise ConversionError(f"{at}: not an object")
    if new.get("apiVersion") != desired:
        raise ConversionError(f"{at}: invalid groupVersion (expected {desired}, "
                              f"received {new.get('apiVersion', '')})")
    if new.get("kind") != original.get("kind"):
        raise ConversionError(f"{at}: invalid kind (expected {original.get('kind', '')}, "
                              f"received {new.get('kind', '')})")
    problem = _changed_meta(original, new)
    if problem:
        raise ConversionError(f"{prefix} invalid object: {problem}" if index is None else
                              f"{at}: {problem}")
    try:
        return restore_meta(original, new)
    except ConversionError as e:
        where = "metadata" if index is None else f"metadata in object at index {index}"
        raise ConversionError(f"{prefix} invalid {where}: {e}") from None


def _response_objects(crd: Obj, uid: str, answer: Any) -> list[Any]:
    if not isinstance(answer, dict):
        raise ConversionError("unrecognized response type")
    version = review_version(crd)
    if version == "v1" and (answer.get("apiVersion"), answer.get("kind")) != \
            ("apiextensions.k8s.io/v1", "ConversionReview"):
        raise ConversionError("expected webhook response of apiextensions.k8s.io/v1, "
                              f"Kind=ConversionReview, got {gvk(answer)}")
    response = answer.get("response")
    if not isinstance(response, dict):
        raise ConversionError("no response provided")
    if version == "v1" and response.get("uid") != uid:
        raise ConversionError(f'expected response.uid="{uid}", got '
                              f'"{response.get("uid") or ""}"')
    result = response.get("result") or {}
    if result.get("status") != "Success":
        raise ConversionError(result.get("message") or f"response.result.status was "
                              f"'{result.get('status') or ''}', not 'Success'")
    return list(response.get("convertedObjects") or [])


def _changed_meta(original: Obj, new: Obj) -> str:
    """validateConvertedObject: name, namespace and uid stay (kind is checked before)."""
    m, n = original.get("metadata") or {}, new.get("metadata") or {}
    if not isinstance(n, dict):
        n = {}
    for key, label in (("name", "name"), ("namespace", "namespace"), ("uid", "UID")):
        if (m.get(key) or "") != (n.get(key) or ""):
            return f"must have the same {label}: {m.get(key) or ''} != {n.get(key) or ''}"
    return ""


def restore_meta(original: Obj, new: Obj) -> Obj:
    """restoreObjectMeta: the original's metadata, with the converted labels and annotations."""
    response_meta = new.get("metadata")
    if response_meta is None:
        raise ConversionError("missing metadata in converted object")
    if not isinstance(response_meta, dict):
        raise ConversionError(f"invalid metadata of type {type(response_meta).__name__} in "
                              "converted object")
    out = dict(new)
    meta = copy.deepcopy(original.get("metadata") or {})
    for field in ("labels", "annotations"):
        value = response_meta.get(field)
        if value is None:
            meta.pop(field, None)
            continue
        if not isinstance(value, dict):
            raise ConversionError(f"invalid metadata.{field} of type {type(value).__name__} in "
                                  "converted object")
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConversionError(f"metadata.{field}[{k}] must be a string, but is "
                                      f"{type(v).__name__} in converted object")
        meta[field] = value
    out["metadata"] = meta
    return out
