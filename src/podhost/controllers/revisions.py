"""ControllerRevisions of StatefulSets and DaemonSets (pkg/controller/history): one per distinct
Pod template, named `<owner>-<hash>`, labelled like the template plus `controller-revision-hash`,
numbered in `revision`; the current template's revision is found or made (an older equal one is
renumbered, as a rollback does), and revisions beyond revisionHistoryLimit that no Pod uses are
deleted. A new revision copies its owner's annotations (`kubernetes.io/change-cause` is what
`kubectl rollout history` prints)."""

from __future__ import annotations

import copy

from podhost.api.types import Obj
from podhost.controllers import workload as w
from podhost.controllers.deployutil import template_hash
from podhost.registry.client import Client

HASH_LABEL = "controller-revision-hash"


def patch_of(owner: Obj) -> Obj:
    """The revision's data: the template as a strategic merge patch that replaces it."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def template_of(revision: Obj) -> Obj:
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get(
        "template") or {})
    template.pop("$patch", None)
    return template


def current(store: Client, owner: Obj, kind: str) -> tuple[Obj, list[Obj]]:
    """The revision of the owner's template (made or renumbered) and all its revisions."""
    revisions = sorted(w.owned(store, "controllerrevisions", owner),
                       key=lambda r: int(r.get("revision", 0)))
    data = patch_of(owner)
    top = max((int(r.get("revision", 0)) for r in revisions), default=0)
    for rev in revisions:
        if rev.get("data") == data:
            if int(rev.get("revision", 0)) != top:
                fresh = copy.deepcopy(rev)
                fresh["revision"] = top + 1
                rev = w.update(store, "controllerrevisions", fresh)
                revisions = [r for r in revisions if r["metadata"]["uid"] !=
                             rev["metadata"]["uid"]] + [rev]
            return rev, revisions
    h = template_hash(data, int((owner.get("status") or {}).get("collisionCount", 0)))
    labels = dict((((owner.get("spec") or {}).get("template") or {}).get("metadata") or {})
                  .get("labels") or {})
    labels[HASH_LABEL] = h
    made: Obj | None = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {
        "name": f"{owner['metadata']['name']}-{h}", "labels": labels,
        "ownerReferences": [w.controller_of(owner, kind, "apps/v1")]},
        "data": data, "revision": top + 1}
    assert made is not None
    if owner["metadata"].get("annotations"):  # copied as upstream's history code does
        made["metadata"]["annotations"] = dict(owner["metadata"]["annotations"])
    name = made["metadata"]["name"]
    made["metadata"]["namespace"] = owner["metadata"]["namespace"]
    made = w.create(store, "controllerrevisions", made)
    if made is None:  # the name is taken by a revision of another template
        made = store.get("controllerrevisions", owner["metadata"]["namespace"], name)
    return made, [*revisions, made]


def truncate(store: Client, owner: Obj, revisions: list[Obj], live: set[str]) -> None:
    """Delete the oldest revisions beyond revisionHistoryLimit that are not `live`."""
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    old = [r for r in revisions if r["metadata"]["name"] not in live]
    for rev in sorted(old, key=lambda r: int(r.get("revision", 0)))[:max(0, len(old) - limit)]:
        w.delete(store, "controllerrevisions", rev)
