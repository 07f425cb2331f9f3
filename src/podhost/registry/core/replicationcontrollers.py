"""ReplicationControllers (pkg/registry/core/replicationcontroller): the workload strategy with
the map selector (mutable, unlike a ReplicaSet's), status `replicas: 0` on create."""

from __future__ import annotations

from podhost.api import replicationcontrollers as rcs
from podhost.api import workloadtable
from podhost.api.types import Obj
from podhost.registry.workloadstrategy import WorkloadStrategy


class ReplicationControllerStrategy(WorkloadStrategy):
    immutable_selector = False

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        rcs.default(obj)


strategy = ReplicationControllerStrategy(rcs.default_spec, rcs.spec_errors,
                                         workloadtable.REPLICASET_COLUMNS,
                                         workloadtable.replicaset_cells,
                                         status={"replicas": 0})
