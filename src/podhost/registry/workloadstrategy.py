"""What the apps/v1 and batch/v1 workloads' strategies share: generation 1 on create and +1 on
a spec change, status kept apart from the spec, their kind's defaults and spec validation, a
selector that may not change, and zero-valued status fields on create as kube-apiserver
returns them (clients such as the official Python client require them)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from podhost.api import errors, workloads
from podhost.api import workload_validation as apps
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class WorkloadStrategy(Strategy):
    """A workload with `defaults` for its spec and `spec_errors` for ValidateXSpec."""

    immutable_selector = True

    def __init__(self, defaults: Callable[[Obj], None],
                 spec_errors: Callable[[Obj], list[FieldError]],
                 columns: list[Any], cells: Callable[[Obj, datetime], list[Any]],
                 status: Obj | None = None) -> None:
        self.defaults, self.spec_errors = defaults, spec_errors
        self.columns, self._cells, self.status = columns, cells, status or {}

    def initial_status(self, obj: Obj) -> Obj:
        return copy.deepcopy(self.status)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        workloads.prepare_create(obj, self.defaults)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        workloads.prepare_update(new, old, self.defaults)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec")
        return self.spec_errors(spec if isinstance(spec, dict) else {})

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if self.immutable_selector and spec.get("selector") != old_spec.get("selector"):
            errs.append(errors.invalid("spec.selector", apps.go_selector(spec.get("selector")),
                                       "field is immutable"))
        return errs

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return self._cells(obj, now)
