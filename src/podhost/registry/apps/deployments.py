"""Deployments (pkg/registry/apps/deployment)."""

from podhost.api import workload_validation as apps
from podhost.api import workloads, workloadtable
from podhost.registry.workloadstrategy import WorkloadStrategy

strategy = WorkloadStrategy(workloads.default_deployment, apps.deployment_spec_errors,
                            workloadtable.DEPLOYMENT_COLUMNS, workloadtable.deployment_cells)
