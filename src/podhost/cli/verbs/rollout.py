"""`podhost rollout status|history|undo|restart|pause|resume` and `podhost scale`, as kubectl
does them: over the standard API (the scale subresource, JSON and merge patches, ReplicaSet
revisions), so any cluster's context works."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.context import Resource, client_for, lookup, namespace_of
from podhost.cli.errors import CliError, StatusError

REVISION = "deployment.kubernetes.io/revision"
MERGE = "application/merge-patch+json"


def _target(text: str) -> tuple[Resource, str]:
    kind, _, name = text.partition("/")
    if not name:
        raise CliError(f'error: arguments in resource/name form are required, got "{text}"')
    return lookup(kind), name


def _label(resource: Resource, name: str) -> str:
    group = resource.group_version.rpartition("/")[0]
    return f"{resource.singular}.{group}/{name}" if group else f"{resource.singular}/{name}"


def _path(resource: Resource, ns: str, name: str, sub: str | None = None) -> str:
    return clientmod.resource_path(resource.plural, ns, name, sub, resource.group_version)


def scale(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client) or "default"
    resource, name = _target(args.target)
    try:
        client.request("PATCH", _path(resource, ns, name, "scale"),
                       {"spec": {"replicas": args.replicas}}, content_type=MERGE)
    except StatusError as e:
        raise CliError(e.render()) from None
    print(f"{_label(resource, name)} scaled")
    return 0


def status_text(resource: Resource, obj: Obj) -> tuple[str, bool]:
    """kubectl's rollout status viewers (deployment, statefulset, daemonset)."""
    spec, st, name = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]["name"]
    if obj["metadata"].get("generation", 0) > st.get("observedGeneration", 0):
        return "Waiting for rollout to finish: observed generation is out of date...", False
    want = spec.get("replicas", 1)
    if resource.plural == "deployments":
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                raise CliError(f'error: deployment "{name}" exceeded its progress deadline')
        updated, total = st.get("updatedReplicas", 0), st.get("replicas", 0)
        if updated < want:
            return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
                    f"{want} new replicas have been updated..."), False
        if total > updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {total - updated} '
                    "old replicas are pending termination..."), False
        if st.get("availableReplicas", 0) < updated:
            return (f'Waiting for deployment "{name}" rollout to finish: '
                    f"{st.get('availableReplicas', 0)} of {updated} updated replicas are "
                    "available..."), False
        return f'deployment "{name}" successfully rolled out', True
    if resource.plural == "daemonsets":
        desired = st.get("desiredNumberScheduled", 0)
        if st.get("updatedNumberScheduled", 0) < desired or \
                st.get("numberAvailable", 0) < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: '
                    f"{st.get('numberAvailable', 0)} of {desired} updated pods are "
                    "available..."), False
        return f'daemon set "{name}" successfully rolled out', True
    if st.get("readyReplicas", 0) < want:
        return f"Waiting for {want - st.get('readyReplicas', 0)} pods to be ready...", False
    return f"statefulset rolling update complete {want} pods at revision " \
        f"{st.get('updateRevision', '')}...", True


def rollout(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client) or "default"
    resource, name = _target(args.target)
    actions = {"status": _status, "history": _history, "undo": _undo, "restart": _restart,
               "pause": _pause, "resume": _pause}
    try:
        return actions[args.action](client, args, resource, ns, name)
    except StatusError as e:
        raise CliError(e.render()) from None


def _status(client: clientmod.Client, args: argparse.Namespace, resource: Resource, ns: str,
            name: str) -> int:
    deadline = time.monotonic() + (args.timeout or 1e9)
    last = ""
    while True:
        text, done = status_text(resource, client.get(_path(resource, ns, name)))
        if text != last:
            print(text, flush=True)
            last = text
        if done:
            return 0
        if time.monotonic() > deadline:
            raise CliError("error: timed out waiting for the condition")
        time.sleep(0.5)


def _owned_sets(client: clientmod.Client, d: Obj, ns: str) -> list[Obj]:
    path = clientmod.resource_path("replicasets", ns, None, None, "apps/v1")
    items: list[Obj] = client.get(path).get("items") or []
    uid = d["metadata"]["uid"]
    return [rs for rs in items if any(r.get("uid") == uid and r.get("controller")
                                      for r in rs["metadata"].get("ownerReferences") or [])]


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def _history(client: clientmod.Client, args: argparse.Namespace, resource: Resource, ns: str,
             name: str) -> int:
    if resource.plural != "deployments":
        raise CliError("error: podhost rollout history supports deployments")
    d = client.get(_path(resource, ns, name))
    print(f"{_label(resource, name)} \nREVISION  CHANGE-CAUSE")
    for rs in sorted(_owned_sets(client, d, ns), key=_revision):
        cause = (rs["metadata"].get("annotations") or {}).get("kubernetes.io/change-cause")
        print(f"{_revision(rs):<9} {cause or '<none>'}")
    print()
    return 0


def _undo(client: clientmod.Client, args: argparse.Namespace, resource: Resource, ns: str,
          name: str) -> int:
    if resource.plural != "deployments":
        raise CliError("error: podhost rollout undo supports deployments")
    d = client.get(_path(resource, ns, name))
    sets = sorted(_owned_sets(client, d, ns), key=_revision)
    wanted = args.to_revision or (_revision(sets[-2]) if len(sets) > 1 else 0)
    target = next((rs for rs in sets if _revision(rs) == wanted), None)
    if target is None:
        raise CliError("error: no rollout history found for deployment "
                       f'"{name}"' if not args.to_revision else
                       f"error: unable to find specified revision {wanted} in history")
    template: Any = dict(target["spec"]["template"])
    labels = {k: v for k, v in (template.get("metadata") or {}).get("labels", {}).items()
              if k != "pod-template-hash"}
    template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
    client.request("PATCH", _path(resource, ns, name),
                   [{"op": "replace", "path": "/spec/template", "value": template}],
                   content_type="application/json-patch+json")
    print(f"{_label(resource, name)} rolled back")
    return 0


def _restart(client: clientmod.Client, args: argparse.Namespace, resource: Resource, ns: str,
             name: str) -> int:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": now}}}}}
    client.request("PATCH", _path(resource, ns, name), patch, content_type=MERGE)
    print(f"{_label(resource, name)} restarted")
    return 0


def _pause(client: clientmod.Client, args: argparse.Namespace, resource: Resource, ns: str,
           name: str) -> int:
    paused = args.action == "pause"
    client.request("PATCH", _path(resource, ns, name), {"spec": {"paused": paused}},
                   content_type=MERGE)
    print(f"{_label(resource, name)} {'paused' if paused else 'resumed'}")
    return 0
