"""The replication manager (pkg/controller/replication): the ReplicaSet controller's logic
over ReplicationControllers, whose selector is a map."""

from __future__ import annotations

from podhost.api import replicationcontrollers as rcs
from podhost.api.types import Obj
from podhost.controllers.replicaset import ReplicaSetController


class ReplicationManager(ReplicaSetController):
    name = "replication-controller"
    resource, kind, api_version = "replicationcontrollers", "ReplicationController", "v1"

    def selector_of(self, rs: Obj) -> object:
        return rcs.label_selector(rs)
