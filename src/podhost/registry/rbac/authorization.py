"""What the four RBAC resources' strategies share (pkg/registry/rbac): rule and binding
validation, roleRef that may not change, and the escalation checks of their storage (a user
may create or update a role only with rules it holds itself, or a binding only to a role whose
rules it holds, unless it may `escalate` / `bind`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import errors, objectmeta, rbac, rbactable
from podhost.api.errors import FieldError
from podhost.api.rbac import Attributes
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy

SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def rule_errors(rules: list[Obj], namespaced: bool) -> list[FieldError]:
    errs = []
    for i, r in enumerate(rules):
        p = f"rules[{i}]"
        if not r.get("verbs"):
            errs.append(errors.required(f"{p}.verbs", "verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if namespaced:
                errs.append(errors.invalid(f"{p}.nonResourceURLs", r["nonResourceURLs"],
                                           "namespaced rules cannot apply to non-resource URLs"))
            continue
        if not r.get("apiGroups"):
            errs.append(errors.required(f"{p}.apiGroups",
                                        "resource rules must supply at least one api group"))
        if not r.get("resources"):
            errs.append(errors.required(f"{p}.resources",
                                        "resource rules must supply at least one resource"))
    return errs


def binding_errors(obj: Obj, role_kinds: tuple[str, ...], cluster: bool) -> list[FieldError]:
    errs = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != rbac.GROUP:
        errs.append(errors.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""),
                                         [rbac.GROUP]))
    if ref.get("kind") not in role_kinds:
        errs.append(errors.not_supported("roleRef.kind", ref.get("kind", ""), list(role_kinds)))
    if not ref.get("name"):
        errs.append(errors.required("roleRef.name"))
    for i, s in enumerate(obj.get("subjects") or []):
        p = f"subjects[{i}]"
        if not s.get("name"):
            errs.append(errors.required(f"{p}.name"))
        if s.get("kind") not in SUBJECT_KINDS:
            errs.append(errors.not_supported(f"{p}.kind", s.get("kind", ""), SUBJECT_KINDS))
        elif s["kind"] == "ServiceAccount":
            if s.get("apiGroup"):
                errs.append(errors.not_supported(f"{p}.apiGroup", s["apiGroup"], [""]))
            if cluster and not s.get("namespace"):
                errs.append(errors.required(f"{p}.namespace"))
        elif s.get("apiGroup") != rbac.GROUP:
            errs.append(errors.not_supported(f"{p}.apiGroup", s.get("apiGroup", ""),
                                             [rbac.GROUP]))
    return errs


class RBACStrategy(Strategy):
    name_fn = staticmethod(objectmeta.path_segment)

    def forbid_escalation(self, ctx: Context, obj: Obj, rules: list[Obj]) -> None:
        """403 unless the writer holds every rule in `rules`."""
        if ctx.authorizer is None or ctx.user is None or ctx.user.is_admin():
            return
        ns = obj["metadata"].get("namespace") or ""
        name = obj["metadata"].get("name") or ""
        missing = rbac.uncovered(ctx.authorizer.rules(ctx.user, ns), rules)
        if missing:
            resource = self.type.name
            raise errors.ForbiddenError(
                f'{rbac.qualified(resource, rbac.GROUP)} "{name}" is forbidden: '
                + rbac.escalation_message(ctx.user, missing), kind=resource, name=name,
                details={"group": rbac.GROUP})

    def allowed(self, ctx: Context, verb: str, resource: str, obj: Obj, name: str) -> bool:
        assert ctx.authorizer is not None and ctx.user is not None
        return ctx.authorizer.allowed(Attributes(
            ctx.user, verb, True, rbac.GROUP, resource, "",
            obj["metadata"].get("namespace") or "", name))


class RoleStrategy(RBACStrategy):
    columns = rbactable.ROLE_COLUMNS

    def validate(self, obj: Obj) -> list[FieldError]:
        return rule_errors(obj.get("rules") or [], self.type.namespaced)

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if ctx.authorizer is None or ctx.user is None or ctx.user.is_admin():
            return
        if self.allowed(ctx, "escalate", self.type.name, obj, obj["metadata"].get("name", "")):
            return
        self.forbid_escalation(ctx, obj, obj.get("rules") or [])

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return rbactable.role_cells(obj, now)


class BindingStrategy(RBACStrategy):
    columns = rbactable.BINDING_COLUMNS

    def __init__(self, role_kinds: tuple[str, ...]) -> None:
        self.role_kinds = role_kinds

    def validate(self, obj: Obj) -> list[FieldError]:
        return binding_errors(obj, self.role_kinds, not self.type.namespaced)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if old.get("roleRef") != new.get("roleRef"):
            errs.append(errors.invalid("roleRef", new.get("roleRef"), "cannot change roleRef"))
        return errs

    def admit(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if ctx.authorizer is None or ctx.user is None or ctx.user.is_admin():
            return
        ref = obj.get("roleRef") or {}
        role_resource = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
        if self.allowed(ctx, "bind", role_resource, obj, str(ref.get("name") or "")):
            return
        ns = obj["metadata"].get("namespace") or ""
        self.forbid_escalation(ctx, obj, ctx.authorizer.role_rules(ref, ns))

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return rbactable.binding_cells(obj, now)
