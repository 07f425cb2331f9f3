"""ValidatingAdmissionPolicies: validation (expressions compile), VALIDATIONS and PARAMKIND."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import admissionregistration, extensiontables
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class ValidatingAdmissionPolicyStrategy(Strategy):
    columns = extensiontables.POLICY_COLUMNS
    admission_exempt = True

    def validate(self, obj: Obj) -> list[FieldError]:
        return admissionregistration.validate_policy(obj)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return extensiontables.policy_cells(obj, now)


strategy = ValidatingAdmissionPolicyStrategy()
