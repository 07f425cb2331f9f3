"""The create-only review resources: SelfSubjectAccessReview, SubjectAccessReview,
LocalSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1, what `kubectl
auth can-i [--list]` asks), and SelfSubjectReview (authentication.k8s.io/v1, `kubectl auth
whoami`). Nothing is stored: each answers with the request and its status."""

from __future__ import annotations

from typing import Any

from podhost.api import errors, registry
from podhost.api.rbac import Attributes, User
from podhost.apiserver.common import decode_body, ok
from podhost.apiserver.http import Request, Response
from podhost.apiserver.identity import Identity

ACCESS_REVIEWS = {"selfsubjectaccessreviews", "subjectaccessreviews",
                  "localsubjectaccessreviews"}
RESOURCES = ACCESS_REVIEWS | {"selfsubjectrulesreviews", "selfsubjectreviews"}


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra}
    return info


def _subject(resource: str, spec: dict[str, Any], requester: User) -> User:
    if resource == "selfsubjectaccessreviews":
        return requester
    if not spec.get("user") and not spec.get("groups"):
        raise errors.InvalidError(registry.kind_of(resource), "", [errors.invalid(
            "spec.user", "", "at least one of user or group must be specified")])
    extra = tuple((k, tuple(v)) for k, v in (spec.get("extra") or {}).items())
    return User(str(spec.get("user") or ""), tuple(spec.get("groups") or ()),
                str(spec.get("uid") or ""), extra)


def _attributes(user: User, spec: dict[str, Any], resource: str, ns: str) -> Attributes:
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        namespace = ns if resource == "localsubjectaccessreviews" else \
            str(res.get("namespace") or "")
        return Attributes(user, str(res.get("verb") or ""), True, str(res.get("group") or ""),
                          str(res.get("resource") or ""), str(res.get("subresource") or ""),
                          namespace, str(res.get("name") or ""))
    if isinstance(non, dict):
        return Attributes(user, str(non.get("verb") or ""), False, path=str(non.get("path")
                                                                            or ""))
    raise errors.InvalidError(registry.kind_of(resource), "", [errors.required(
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
    requester: User = request.user
    if resource == "selfsubjectreviews":
        out["status"] = {"userInfo": _user_info(requester)}
    elif resource == "selfsubjectrulesreviews":
        out["status"] = _rules_status(identity, requester, str(spec.get("namespace") or ""))
    else:
        a = _attributes(_subject(resource, spec, requester), spec, resource, ns or "")
        out["status"] = {"allowed": identity.allowed(a)}
    return ok(out, 201)
