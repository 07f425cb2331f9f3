"""ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding: CEL validations over the
request, with params (paramKind/paramRef), matchConditions, variables, messageExpression and
the binding's validationActions (Deny, Warn, Audit), worded as the admission plugin words
them (`ValidatingAdmissionPolicy 'p' with binding 'b' denied request: ...`)."""

from __future__ import annotations

from typing import Any

from podhost.api import errors, registry
from podhost.api.admissionregistration import (
    Attributes,
    cel_data,
    conditions_match,
    policy_denied,
    rule_matches,
    selectors_match,
)
from podhost.api.apiextensions import cel
from podhost.api.types import Obj
from podhost.api.workload_validation import selector_matches
from podhost.store.sqlite import Store

_CODES = {"Invalid": 422, "Forbidden": 403, "Unauthorized": 401,
          "RequestEntityTooLarge": 413}


def _matches(constraints: Obj, a: Attributes, namespace: Obj | None) -> bool:
    served = registry.get(a.resource)
    versions = served.versions if served and constraints.get("matchPolicy") != "Exact" \
        else (a.version,)

    def hit(rule: Obj) -> bool:
        names = rule.get("resourceNames") or []
        return rule_matches(rule, a, versions) and (not names or a.name in names)

    rules = constraints.get("resourceRules")
    if rules is not None and not any(hit(r) for r in rules):
        return False
    if any(hit(r) for r in constraints.get("excludeResourceRules") or []):
        return False
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {} \
        if namespace is not None else None
    return selectors_match(constraints, a, labels)


def _params(store: Store, kind: Obj | None, ref: Obj | None, a: Attributes
            ) -> list[Any] | None:
    """The params objects a binding selects; [None] without paramKind; None when none is
    found and the binding says Deny."""
    if not kind or not ref:
        return [None]
    served = registry.by_kind(str(kind.get("kind")), kind.get("apiVersion"))
    found: list[Any] = []
    if served is not None:
        ns = (ref.get("namespace") or a.namespace) if served.namespaced else ""
        if ref.get("name"):
            try:
                found = [store.get(served.name, ns, ref["name"])]
            except errors.NotFoundError:
                found = []
        else:
            selector = ref.get("selector") or {}
            found = [o for o in store.list(served.name, ns or None)[0]
                     if selector_matches(selector, o["metadata"].get("labels") or {})]
    if not found and ref.get("parameterNotFoundAction", "Deny") == "Deny":
        return None
    return found


def evaluate(store: Store, configs: dict[str, list[Obj]], a: Attributes,
             namespace: Obj | None) -> list[str]:
    """Run every binding that matches; raise on Deny, return the Warn messages."""
    policies = {p["metadata"]["name"]: p for p in configs["validatingadmissionpolicies"]}
    warnings: list[str] = []
    for binding in configs["validatingadmissionpolicybindings"]:
        spec = binding.get("spec") or {}
        policy = policies.get(spec.get("policyName", ""))
        if policy is None:
            continue
        pspec = policy.get("spec") or {}
        if not _matches(pspec.get("matchConstraints") or {}, a, namespace) or \
                (spec.get("matchResources") and
                 not _matches(spec["matchResources"], a, namespace)):
            continue
        names = (policy["metadata"]["name"], binding["metadata"]["name"])
        params = _params(store, pspec.get("paramKind"), spec.get("paramRef"), a)
        if params is None:
            _decide(names, spec, a, "failed to configure binding: no params found for policy "
                    "binding with `Deny` parameterNotFoundAction", "Invalid", warnings)
            continue
        for param in params:
            _run(names, pspec, spec, a, cel_data(a, param, namespace), warnings)
    return warnings


def _run(names: tuple[str, str], pspec: Obj, spec: Obj, a: Attributes,
         data: dict[str, Any], warnings: list[str]) -> None:
    ok, error = conditions_match(pspec.get("matchConditions") or [], data)
    if not ok and not error:
        return
    for var in pspec.get("variables") or []:
        data["variables"][var.get("name", "")] = cel.run(
            var.get("expression", "null"), data, cel.ADMISSION_VARIABLES).value
    for v in pspec.get("validations") or []:
        expression = v.get("expression", "")
        result = cel.run(expression, data, cel.ADMISSION_VARIABLES)
        if result.ok:
            continue
        if result.error:
            if pspec.get("failurePolicy", "Fail") == "Ignore":
                continue
            message = f"expression '{expression}' resulted in error: {result.error}"
        else:
            message = _message(v, data)
        _decide(names, spec, a, message, v.get("reason") or "Invalid", warnings)


def _message(validation: Obj, data: dict[str, Any]) -> str:
    if validation.get("messageExpression"):
        result = cel.run(validation["messageExpression"], data, cel.ADMISSION_VARIABLES)
        if isinstance(result.value, str) and result.value.strip():
            return result.value
    if validation.get("message"):
        return str(validation["message"])
    return f"failed expression: {validation.get('expression', '').strip()}"


def _decide(names: tuple[str, str], spec: Obj, a: Attributes, message: str, reason: str,
            warnings: list[str]) -> None:
    actions = spec.get("validationActions") or []
    if "Warn" in actions:
        warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{names[0]}' with "
                        f"binding '{names[1]}': {message}")
    if "Deny" in actions:
        raise policy_denied(names[0], names[1], message, a.resource, a.name, reason,
                            _CODES.get(reason, 400))
