"""Jobs (pkg/registry/batch/job): a selector generated from the Job's uid unless
manualSelector, the generated labels kept on update, what may not change."""

from __future__ import annotations

from podhost.api import batch_validation, workloads, workloadtable
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.workloadstrategy import WorkloadStrategy


class JobStrategy(WorkloadStrategy):
    immutable_selector = False  # job_update_errors says what may change
    gc_policy = "Orphan"  # batch/v1 Jobs keep their Pods when a delete does not say

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        workloads.generate_job_selector(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        new_spec, old_spec = new.get("spec"), old.get("spec")
        if isinstance(new_spec, dict) and isinstance(old_spec, dict):
            workloads.keep_job_labels(new_spec, old_spec)
        super().prepare_for_update(new, old)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return super().validate_update(new, old) + batch_validation.job_update_errors(new, old)


strategy = JobStrategy(workloads.default_job_spec,
                       lambda spec: batch_validation.job_spec_errors(spec, "spec"),
                       workloadtable.JOB_COLUMNS, workloadtable.job_cells)
