"""The create-only review resources: SelfSubjectAccessReview, SubjectAccessReview,
LocalSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1, what `kubectl
auth can-i [--list]` asks), and SelfSubjectReview (authentication.k8s.io/v1, `kubectl auth
whoami`). Nothing is stored: each answers with the request and its status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podhost.api import errors, registry
from podhost.api.rbac import Attributes, User
from podhost.apiserver.common import decode_body, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.identity import Identity


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra}
    return info


def _subject(kind: str, spec: dict[str, Any]) -> User:
    """The user a SubjectAccessReview asks about."""
    if not spec.get("user") and not spec.get("groups"):
        raise errors.InvalidError(kind, "", [errors.invalid(
            "spec.user", "", "at least one of user or group must be specified")])
    extra = tuple((k, tuple(v)) for k, v in (spec.get("extra") or {}).items())
    return User(str(spec.get("user") or ""), tuple(spec.get("groups") or ()),
                str(spec.get("uid") or ""), extra)


def _attributes(kind: str, user: User, spec: dict[str, Any], ns: str | None) -> Attributes:
    """The attributes asked about; `ns` (a LocalSubjectAccessReview's) wins over the spec's."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        namespace = ns if ns is not None else str(res.get("namespace") or "")
        return Attributes(user, str(res.get("verb") or ""), True, str(res.get("group") or ""),
                          str(res.get("resource") or ""), str(res.get("subresource") or ""),
                          namespace, str(res.get("name") or ""))
    if isinstance(non, dict):
        return Attributes(user, str(non.get("verb") or ""), False, path=str(non.get("path")
                                                                            or ""))
    raise errors.InvalidError(kind, "", [errors.required(
        "spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes "
        "must be specified")])


def _rules_status(identity: Identity, user: User, namespace: str) -> dict[str, Any]:
    resource_rules, url_rules = [], []
    for rule in identity.rules(user, namespace):
        if rule.get("nonResourceURLs"):
            url_rules.append({"verbs": rule.get("verbs") or [],
                              "nonResourceURLs": rule["nonResourceURLs"]})
        if rule.get("resources"):
            out = {k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames")
                   if rule.get(k) is not None}
            resource_rules.append(out)
    return {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}


Review = Callable[[Identity, str, User, dict[str, Any], str], dict[str, Any]]


def _self_subject(identity: Identity, kind: str, requester: User, spec: dict[str, Any],
                  ns: str) -> dict[str, Any]:
    return {"userInfo": _user_info(requester)}


def _self_rules(identity: Identity, kind: str, requester: User, spec: dict[str, Any],
                ns: str) -> dict[str, Any]:
    return _rules_status(identity, requester, str(spec.get("namespace") or ""))


def _self_access(identity: Identity, kind: str, requester: User, spec: dict[str, Any],
                 ns: str) -> dict[str, Any]:
    return {"allowed": identity.allowed(_attributes(kind, requester, spec, None))}


def _access(identity: Identity, kind: str, requester: User, spec: dict[str, Any],
            ns: str) -> dict[str, Any]:
    return {"allowed": identity.allowed(_attributes(kind, _subject(kind, spec), spec, None))}


def _local_access(identity: Identity, kind: str, requester: User, spec: dict[str, Any],
                  ns: str) -> dict[str, Any]:
    return {"allowed": identity.allowed(_attributes(kind, _subject(kind, spec), spec, ns))}


# each review resource, and how its status is answered
REVIEWS: dict[str, Review] = {
    "selfsubjectreviews": _self_subject, "selfsubjectrulesreviews": _self_rules,
    "selfsubjectaccessreviews": _self_access, "subjectaccessreviews": _access,
    "localsubjectaccessreviews": _local_access}


def handle(identity: Identity, request: Request, resource: str, ns: str | None) -> Response:
    if request.method != "POST":
        raise errors.MethodNotAllowedError("the server does not allow this method on the "
                                           "requested resource")
    kind = registry.kind_of(resource)
    body = decode_body(request, kind)
    if not isinstance(body, dict):
        raise errors.BadRequestError(f"the body must be a {kind}")
    spec: dict[str, Any] = body.get("spec") or {}
    out: dict[str, Any] = {"kind": kind, "apiVersion": registry.api_version_of(resource),
                           "metadata": {"creationTimestamp": None}, "spec": spec}
    out["status"] = REVIEWS[resource](identity, kind, request.user, spec, ns or "")
    return ok(out, 201)
