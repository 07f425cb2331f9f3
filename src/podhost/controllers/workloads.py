"""The workload controllers and the garbage collector, as one list for `podhost serve`."""

from __future__ import annotations

from podhost.controllers.controller import Controller
from podhost.controllers.cronjob import CronJobController
from podhost.controllers.daemonset import DaemonSetController
from podhost.controllers.deployment import DeploymentController
from podhost.controllers.gc import GarbageCollector
from podhost.controllers.job import JobController
from podhost.controllers.replicaset import ReplicaSetController
from podhost.controllers.statefulset import StatefulSetController
from podhost.registry.client import Client


def workload_controllers(store: Client) -> list[Controller]:
    return [DeploymentController(store), ReplicaSetController(store),
            StatefulSetController(store), DaemonSetController(store), JobController(store),
            CronJobController(store), GarbageCollector(store)]
