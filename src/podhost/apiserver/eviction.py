"""The `pods/eviction` subresource (policy/v1 Eviction, POST): a graceful delete of the Pod
unless a PodDisruptionBudget covering it allows no disruption (429 TooManyRequests with the
budget's cause), as pkg/registry/core/pod/storage/eviction.go does. `kubectl drain` evicts
through it."""

from __future__ import annotations

import copy

from podhost.api import disruption, errors, gc, meta
from podhost.api.types import Obj
from podhost.apiserver.common import decode_body, dry_run, not_allowed, ok
from podhost.apiserver.http import Request, Response
from podhost.registry import strategies
from podhost.registry.generic import Registry

SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
           "code": 201}


def handle(registry: Registry, request: Request, ns: str, name: str) -> Response:
    if request.method != "POST":
        raise not_allowed()
    body = decode_body(request, "Eviction")
    if not isinstance(body, dict):
        raise errors.BadRequestError("not a Eviction object")
    if (body.get("metadata") or {}).get("name") != name:
        raise errors.BadRequestError("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    dry = dry_run(request, options)
    pod = registry.store.get("pods", ns, name)
    added, budget = False, ""
    if not disruption.can_ignore(pod):
        preconditions, budget = _check_budget(registry, pod, dry)
        if preconditions is not None and not (options.get("preconditions") or {}):
            options, added = {**options, "preconditions": preconditions}, True
    try:
        _delete(registry, pod, options, dry)
    except errors.ConflictError:
        if not added:
            raise
        # the Pod changed (turned ready?) since the budget was read: the client retries
        raise disruption.too_many_requests(f"The disruption budget {budget} is still being "
                                           "processed by the server.", 10) from None
    return ok(SUCCESS, status=201)


def _check_budget(registry: Registry, pod: Obj, dry: bool) -> tuple[Obj | None, str]:
    """Use one disruption of the Pod's budget (written to its status); the preconditions the
    delete then needs (an unready Pod deleted while the budget holds: its resourceVersion),
    and the budget's name."""
    ns = pod["metadata"]["namespace"]
    budgets = [b for b in registry.store.list("poddisruptionbudgets", ns)[0]
               if disruption.selects(b, pod)]
    if len(budgets) > 1:
        raise errors.InternalError("This pod has more than one PodDisruptionBudget, which the "
                                   "eviction subresource does not support.")
    if not budgets:
        return None, ""
    pdb = budgets[0]
    if disruption.unhealthy_may_go(pdb, pod):
        return {"resourceVersion": pod["metadata"]["resourceVersion"]}, pdb["metadata"]["name"]
    used = disruption.decrement(pdb, pod["metadata"]["name"], meta.now())
    if not dry:
        registry.update("poddisruptionbudgets", copy.deepcopy(used), subresource="status",
                        expected_rv=pdb["metadata"].get("resourceVersion"))
    return None, pdb["metadata"]["name"]


def _delete(registry: Registry, pod: Obj, options: Obj, dry: bool) -> None:
    m = pod["metadata"]
    policy = gc.propagation_policy(options, strategies.get("pods").gc_policy)
    registry.delete("pods", m["namespace"], m["name"], grace=options.get("gracePeriodSeconds"),
                    policy=policy, preconditions=options.get("preconditions"), dry_run=dry)
