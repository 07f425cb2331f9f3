"""CronJobs (pkg/registry/batch/cronjob): names of at most 52 characters (their Jobs add a
suffix)."""

from __future__ import annotations

from podhost.api import batch_validation, errors, workloads, workloadtable
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.workloadstrategy import WorkloadStrategy


class CronJobStrategy(WorkloadStrategy):
    immutable_selector = False

    def validate(self, obj: Obj) -> list[FieldError]:
        name = (obj.get("metadata") or {}).get("name") or ""
        errs = []
        if len(name) > batch_validation.CRONJOB_NAME_MAX:
            errs.append(errors.invalid("metadata.name", name,
                                       "must be no more than 52 characters"))
        return errs + super().validate(obj)


strategy = CronJobStrategy(workloads.default_cronjob, batch_validation.cronjob_spec_errors,
                           workloadtable.CRONJOB_COLUMNS, workloadtable.cronjob_cells)
