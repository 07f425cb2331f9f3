"""ValidatingAdmissionPolicyBindings: validation, POLICYNAME and PARAMREF."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import admissionregistration, extensiontables
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class ValidatingAdmissionPolicyBindingStrategy(Strategy):
    columns = extensiontables.BINDING_COLUMNS
    admission_exempt = True

    def validate(self, obj: Obj) -> list[FieldError]:
        return admissionregistration.validate_binding(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return extensiontables.binding_cells(obj, now)


strategy = ValidatingAdmissionPolicyBindingStrategy()
