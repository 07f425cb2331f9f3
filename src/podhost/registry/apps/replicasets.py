"""ReplicaSets (pkg/registry/apps/replicaset): status starts at `replicas: 0`."""

from podhost.api import workload_validation as apps
from podhost.api import workloads, workloadtable
from podhost.registry.workloadstrategy import WorkloadStrategy

strategy = WorkloadStrategy(workloads.default_replicaset, apps.replicaset_spec_errors,
                            workloadtable.REPLICASET_COLUMNS, workloadtable.replicaset_cells,
                            status={"replicas": 0})
