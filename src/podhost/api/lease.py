"""coordination.k8s.io/v1 Lease: validation (ValidateLease), the table (HOLDER, AGE) and the
node's own Lease in kube-node-lease as the kubelet keeps it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import errors, meta
from podhost.api.columns import age
from podhost.api.errors import FieldError
from podhost.api.types import Obj

NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_LEASE_DURATION = 40  # seconds: kubelet's nodeLeaseDurationSeconds
NODE_LEASE_RENEW = 10  # seconds: a quarter of the duration, as the kubelet renews
COLUMNS = [("Name", "string", "name", 0, "Name must be unique within a namespace."),
           ("Holder", "string", "", 0, "The holder of the lease."),
           ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server "
            "time when this object was created.")]
# CoordinatedLeaderElection is off in 1.32: the API server drops these (dropDisabledFields)
GATED_FIELDS = ("strategy", "preferredHolder")


def prepare(lease: Obj) -> None:
    spec = lease.get("spec")
    if isinstance(spec, dict):
        for key in GATED_FIELDS:
            spec.pop(key, None)


def validate(lease: Obj) -> list[FieldError]:
    spec = lease.get("spec") or {}
    errs: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(errors.invalid("spec.leaseDurationSeconds", duration,
                                   "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        errs.append(errors.invalid("spec.leaseTransitions", transitions,
                                   "must be greater than or equal to 0"))
    return errs


def cells(lease: Obj, now: datetime) -> list[Any]:
    return [lease["metadata"]["name"], (lease.get("spec") or {}).get("holderIdentity", ""),
            age(lease, now)]


def node_lease(node: Obj, old: Obj | None, now: datetime | None = None) -> Obj:
    """The node's Lease renewed now: held by the node, owned by its Node object."""
    name = node["metadata"]["name"]
    lease: Obj = old or {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE,
                                      "uid": meta.new_uid(),
                                      "creationTimestamp": meta.rfc3339(now)}}
    lease["metadata"]["ownerReferences"] = [{
        "apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]
    lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": name,
                     "leaseDurationSeconds": NODE_LEASE_DURATION,
                     "renewTime": meta.rfc3339_micro(now)}
    return lease
