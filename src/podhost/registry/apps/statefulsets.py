"""StatefulSets (pkg/registry/apps/statefulset): names that are DNS labels (they name Pods'
hostnames), only some spec fields may change, status starts at `replicas: 0`."""

from __future__ import annotations

from podhost.api import errors, meta, objectmeta, workloads, workloadtable
from podhost.api import workload_validation as apps
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.workloadstrategy import WorkloadStrategy

# StatefulSet spec fields an update may change (ValidateStatefulSetUpdate)
MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
           "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def name_errors(name: str, prefix: bool) -> list[str]:
    """A DNS subdomain that is also a DNS label."""
    return objectmeta.dns_subdomain(name, prefix) or meta.dns1123_label_errors(name)


class StatefulSetStrategy(WorkloadStrategy):
    name_fn = staticmethod(name_errors)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if {k: v for k, v in spec.items() if k not in MUTABLE} != \
                {k: v for k, v in old_spec.items() if k not in MUTABLE}:
            errs.append(errors.forbidden("spec", "updates to statefulset spec for fields other "
                                         "than 'replicas', 'ordinals', 'template', "
                                         "'updateStrategy', "
                                         "'persistentVolumeClaimRetentionPolicy' and "
                                         "'minReadySeconds' are forbidden"))
        return errs


strategy = StatefulSetStrategy(workloads.default_statefulset, apps.statefulset_spec_errors,
                               workloadtable.STATEFULSET_COLUMNS,
                               workloadtable.statefulset_cells,
                               status={"replicas": 0, "availableReplicas": 0})
