"""DaemonSets (pkg/registry/apps/daemonset): status starts with its four counters at 0."""

from podhost.api import workload_validation as apps
from podhost.api import workloads, workloadtable
from podhost.registry.workloadstrategy import WorkloadStrategy

strategy = WorkloadStrategy(workloads.default_daemonset, apps.daemonset_spec_errors,
                            workloadtable.DAEMONSET_COLUMNS, workloadtable.daemonset_cells,
                            status={"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                    "desiredNumberScheduled": 0, "numberReady": 0})
