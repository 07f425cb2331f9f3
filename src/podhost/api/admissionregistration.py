"""admissionregistration.k8s.io/v1: webhook configurations and ValidatingAdmissionPolicies,
pure: validation and defaults of the objects, which webhooks and policies match a request,
the AdmissionReview a webhook is sent, and the errors a denial becomes (upstream's words)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from podhost.api import errors
from podhost.api.apiextensions import cel
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import selector_matches

GROUP = "admissionregistration.k8s.io"
WEBHOOK_RESOURCES = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
POLICY_RESOURCES = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")
_QUALIFIED = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$")


@dataclass(frozen=True)
class Attributes:
    """One admission request: what is written, by whom."""
    operation: str  # CREATE, UPDATE, DELETE
    group: str
    version: str
    resource: str
    subresource: str
    kind: str
    namespace: str
    name: str
    obj: Obj | None
    old: Obj | None
    user: Obj  # userInfo
    dry_run: bool


# ---- defaults and validation -------------------------------------------------------------

def default_webhooks(config: Obj, mutating: bool) -> None:
    for hook in config.get("webhooks") or []:
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        for rule in hook.get("rules") or []:
            rule.setdefault("scope", "*")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)


def validate_webhooks(config: Obj) -> list[FieldError]:
    """ValidateValidatingWebhookConfiguration / ...Mutating..., the checks clients meet."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, hook in enumerate(config.get("webhooks") or []):
        path, name = f"webhooks[{i}]", hook.get("name") or ""
        if not name:
            errs.append(errors.required(f"{path}.name", ""))
        elif not _QUALIFIED.match(name):
            errs.append(errors.invalid(f"{path}.name", name,
                                       "should be a domain with at least three segments "
                                       "separated by dots"))
        elif name in seen:
            errs.append(errors.duplicate(f"{path}.name", name))
        seen.add(name)
        errs += _webhook_errors(hook, path)
    return errs


def _webhook_errors(hook: Obj, path: str) -> Iterator[FieldError]:
    versions = hook.get("admissionReviewVersions") or []
    if not versions:
        yield errors.required(f"{path}.admissionReviewVersions",
                              "must specify one of v1, v1beta1")
    elif "v1" not in versions:
        yield errors.invalid(f"{path}.admissionReviewVersions", versions,
                             "must include at least one of v1 (podhost sends v1)")
    effects = hook.get("sideEffects")
    if effects not in ("None", "NoneOnDryRun"):
        yield errors.required(f"{path}.sideEffects",
                              "must specify one of None, NoneOnDryRun") if not effects else \
            errors.not_supported(f"{path}.sideEffects", effects, ["None", "NoneOnDryRun"])
    for key, allowed in (("failurePolicy", ["Fail", "Ignore"]),
                         ("matchPolicy", ["Equivalent", "Exact"]),
                         ("reinvocationPolicy", ["IfNeeded", "Never"])):
        if key in hook and hook[key] not in allowed:
            yield errors.not_supported(f"{path}.{key}", hook[key], allowed)
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and not 1 <= timeout <= 30:
        yield errors.invalid(f"{path}.timeoutSeconds", timeout,
                             "the timeout value must be between 1 and 30 seconds")
    client = hook.get("clientConfig") or {}
    if bool(client.get("url")) == bool(client.get("service")):
        yield errors.required(f"{path}.clientConfig",
                              "exactly one of url or service is required")
    elif client.get("url") and not str(client["url"]).startswith("https://"):
        yield errors.invalid(f"{path}.clientConfig.url", client["url"],
                             "'https' is the only allowed URL scheme")
    for j, cond in enumerate(hook.get("matchConditions") or []):
        yield from _expression_errors(cond.get("expression", ""),
                                      f"{path}.matchConditions[{j}].expression")


def _expression_errors(expression: str, path: str) -> Iterator[FieldError]:
    if not expression:
        yield errors.required(path, "")
        return
    try:
        cel.compile_rule(expression, cel.ADMISSION_VARIABLES)
    except cel.CompileError as e:
        yield errors.invalid(path, expression, f"compilation failed: {e}")


def validate_policy(policy: Obj) -> list[FieldError]:
    spec = policy.get("spec") or {}
    errs: list[FieldError] = []
    if not spec.get("validations") and not spec.get("auditAnnotations"):
        errs.append(errors.required("spec.validations",
                                    "validations or auditAnnotations must contain at least "
                                    "one item"))
    for i, v in enumerate(spec.get("validations") or []):
        errs += _expression_errors(v.get("expression", ""), f"spec.validations[{i}].expression")
    if spec.get("failurePolicy") not in (None, "Fail", "Ignore"):
        errs.append(errors.not_supported("spec.failurePolicy", spec["failurePolicy"],
                                         ["Fail", "Ignore"]))
    if not (spec.get("matchConstraints") or {}).get("resourceRules"):
        errs.append(errors.required("spec.matchConstraints.resourceRules", ""))
    return errs


def validate_binding(binding: Obj) -> list[FieldError]:
    spec = binding.get("spec") or {}
    errs: list[FieldError] = []
    if not spec.get("policyName"):
        errs.append(errors.required("spec.policyName", ""))
    actions = spec.get("validationActions") or []
    if not actions:
        errs.append(errors.required("spec.validationActions", ""))
    for i, a in enumerate(actions):
        if a not in ("Deny", "Warn", "Audit"):
            errs.append(errors.not_supported(f"spec.validationActions[{i}]", a,
                                             ["Audit", "Deny", "Warn"]))
    if "Deny" in actions and "Warn" in actions:
        errs.append(errors.invalid("spec.validationActions", actions,
                                   "may not contain both \"Deny\" and \"Warn\""))
    return errs


# ---- matching ------------------------------------------------------------------------------

def _any(values: list[str], value: str) -> bool:
    return "*" in values or value in values


def rule_matches(rule: Obj, a: Attributes, versions: tuple[str, ...]) -> bool:
    """A RuleWithOperations against the request; `versions`: the versions that count
    (the request's, or every served version under matchPolicy Equivalent)."""
    if not _any(rule.get("operations") or [], a.operation):
        return False
    if not _any(rule.get("apiGroups") or [], a.group):
        return False
    if not any(_any(rule.get("apiVersions") or [], v) for v in versions):
        return False
    wanted = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    resources = rule.get("resources") or []
    if not ("*/*" in resources or wanted in resources or
            (not a.subresource and "*" in resources) or
            (a.subresource and f"*/{a.subresource}" in resources) or
            (a.subresource and f"{a.resource}/*" in resources)):
        return False
    scope = rule.get("scope") or "*"
    return scope == "*" or (scope == "Namespaced") == bool(a.namespace)


def selectors_match(spec: Obj, a: Attributes, namespace_labels: dict[str, str] | None
                    ) -> bool:
    """namespaceSelector (on the namespace, or a Namespace's own labels) and objectSelector
    (on the new or the old object)."""
    ns_selector = spec.get("namespaceSelector") or {}
    if ns_selector and namespace_labels is not None and \
            not selector_matches(ns_selector, namespace_labels):
        return False
    obj_selector = spec.get("objectSelector") or {}
    if obj_selector:
        labels = [((o or {}).get("metadata") or {}).get("labels") or {}
                  for o in (a.obj, a.old) if o is not None]
        return any(selector_matches(obj_selector, lbl) for lbl in labels)
    return True


def cel_data(a: Attributes, params: Any = None, namespace: Obj | None = None) -> dict[str, Any]:
    return {"object": a.obj, "oldObject": a.old, "request": review_request(a, "")
            | {"uid": ""}, "params": params, "namespaceObject": namespace, "variables": {}}


def conditions_match(conditions: list[Obj], data: dict[str, Any]) -> tuple[bool, str]:
    """matchConditions: all true → match; a false → no match; an error → (False, error)."""
    for cond in conditions:
        result = cel.run(cond.get("expression", "false"), data, cel.ADMISSION_VARIABLES)
        if result.error:
            return False, f"{cond.get('name', '')}: {result.error}"
        if not result.ok:
            return False, ""
    return True, ""


# ---- AdmissionReview -----------------------------------------------------------------------

def review_request(a: Attributes, uid: str) -> Obj:
    request: Obj = {
        "uid": uid, "kind": {"group": a.group, "version": a.version, "kind": a.kind},
        "resource": {"group": a.group, "version": a.version, "resource": a.resource},
        "requestKind": {"group": a.group, "version": a.version, "kind": a.kind},
        "requestResource": {"group": a.group, "version": a.version, "resource": a.resource},
        "name": a.name, "operation": a.operation, "userInfo": a.user,
        "object": a.obj, "oldObject": a.old, "dryRun": a.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1",
                    "kind": {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions",
                             "DELETE": "DeleteOptions"}.get(a.operation, "CreateOptions")}}
    if a.namespace:
        request["namespace"] = a.namespace
    if a.subresource:
        request["subResource"] = a.subresource
        request["requestSubResource"] = a.subresource
    return request


def review(a: Attributes, uid: str) -> Obj:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": review_request(a, uid)}


class WebhookError(errors.ApiError):
    """A denial carrying the code and reason the webhook (or policy) chose."""

    def __init__(self, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self._details = details

    def details(self) -> dict[str, Any] | None:
        return self._details

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        if not self.reason:
            status.pop("reason")
        return status


def webhook_error(message: str, code: int, reason: str, details: Obj | None = None
                  ) -> WebhookError:
    error_type = type("WebhookError", (WebhookError,), {"code": code, "reason": reason})
    error: WebhookError = error_type(message, details)
    return error


def denied(name: str, status: Obj | None) -> WebhookError:
    status = status or {}
    denied_by = f'admission webhook "{name}" denied the request'
    if status.get("message"):
        message = f"{denied_by}: {status['message']}"
    elif status.get("reason"):
        message = f"{denied_by}: {status['reason']}"
    else:
        message = f"{denied_by} without explanation"
    code = int(status.get("code") or 400)
    return webhook_error(message, max(code, 400), str(status.get("reason") or ""),
                         status.get("details"))


def failed_calling(name: str, detail: str) -> errors.InternalError:
    return errors.InternalError(f'Internal error occurred: failed calling webhook "{name}": '
                                f"{detail}")


def policy_denied(policy: str, binding: str, message: str, resource: str, name: str,
                  reason: str = "Invalid", code: int = 422) -> WebhookError:
    text = f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: " \
        f"{message}"
    details = {"name": name, "kind": resource, "causes": [{"message": text, "field": ""}]} \
        if reason == "Invalid" else None
    full = f'{resource} "{name}" is invalid: : {text}' if reason == "Invalid" else text
    return webhook_error(full, code, reason, details)
