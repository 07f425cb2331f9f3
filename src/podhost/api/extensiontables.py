"""kubectl's tables of the API-extension kinds, as their TableConvertors print them:
CustomResourceDefinitions (NAME, CREATED AT), webhook configurations (WEBHOOKS),
ValidatingAdmissionPolicies (VALIDATIONS, PARAMKIND) and their bindings (POLICYNAME,
PARAMREF)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.types import Obj

CRD_COLUMNS: list[Column] = [NAME, ("Created At", "date", "", 0, "")]
WEBHOOK_COLUMNS: list[Column] = [NAME, ("Webhooks", "integer", "", 0,
                                        "Webhooks indicates the number of webhooks."), AGE]
POLICY_COLUMNS: list[Column] = [
    NAME, ("Validations", "integer", "", 0, "Validations indicates the number of validation "
                                            "rules."),
    ("ParamKind", "string", "", 0, "ParamKind specifies the kind of resources used to "
                                   "parameterize this policy"), AGE]
BINDING_COLUMNS: list[Column] = [
    NAME, ("PolicyName", "string", "", 0, "PolicyName indicates the policy definition which "
                                          "the policy binding binded to."),
    ("ParamRef", "string", "", 0, "ParamRef indicates the param resource which sets the "
                                  "configration param"), AGE]


def crd_cells(crd: Obj, now: datetime) -> list[Any]:
    return [crd["metadata"]["name"], crd["metadata"].get("creationTimestamp", "")]


def webhook_cells(config: Obj, now: datetime) -> list[Any]:
    return [config["metadata"]["name"], len(config.get("webhooks") or []), age(config, now)]


def policy_cells(policy: Obj, now: datetime) -> list[Any]:
    spec = policy.get("spec") or {}
    kind = spec.get("paramKind") or {}
    param = f"{kind.get('apiVersion', '')}/{kind.get('kind', '')}" if kind else "<unset>"
    return [policy["metadata"]["name"], len(spec.get("validations") or []), param,
            age(policy, now)]


def binding_cells(binding: Obj, now: datetime) -> list[Any]:
    spec = binding.get("spec") or {}
    ref = spec.get("paramRef") or {}
    param = "<unset>"
    if ref:
        param = f"{ref.get('namespace')}/{ref.get('name', '*')}" if ref.get("namespace") \
            else str(ref.get("name", "*"))
    return [binding["metadata"]["name"], spec.get("policyName", ""), param, age(binding, now)]


TABLES = {"customresourcedefinitions": (CRD_COLUMNS, crd_cells),
          "validatingwebhookconfigurations": (WEBHOOK_COLUMNS, webhook_cells),
          "mutatingwebhookconfigurations": (WEBHOOK_COLUMNS, webhook_cells),
          "validatingadmissionpolicies": (POLICY_COLUMNS, policy_cells),
          "validatingadmissionpolicybindings": (BINDING_COLUMNS, binding_cells)}
