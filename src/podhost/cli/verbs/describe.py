"""`describe`: kubectl's describe layout for Pods (events included); a generic one otherwise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli import printers
from podhost.cli.context import client_for, namespace_of
from podhost.cli.errors import StatusError
from podhost.cli.verbs.objects import fetch, report, targets


def kv(lines: list[str], key: str, value: Any, indent: int = 0, width: int = 0) -> None:
    label = " " * indent + f"{key}:"
    lines.append(f"{label:<{width or 0}}  {value}".rstrip() if width else f"{label}\t{value}")


def mapping(d: dict[str, str] | None) -> list[str]:
    return [f"{k}={v}" for k, v in sorted((d or {}).items())] or ["<none>"]


def shown(annotations: dict[str, str] | None) -> dict[str, str]:
    """kubectl describe hides the last-applied-configuration annotation."""
    return {k: v for k, v in (annotations or {}).items()
            if k != "kubectl.kubernetes.io/last-applied-configuration"}


def rfc1123(ts: str | None) -> str:
    t = printers.parse_time(ts)
    return t.strftime("%a, %d %b %Y %H:%M:%S %z") if t else "<unknown>"


def state_lines(state: Obj, indent: str) -> list[str]:
    if not state:
        return [f"{indent}State:          Waiting"]
    kind, info = next(iter(state.items()))
    lines = [f"{indent}State:          {kind.capitalize()}"]
    if info.get("reason"):
        lines.append(f"{indent}  Reason:       {info['reason']}")
    if "exitCode" in info:
        lines.append(f"{indent}  Exit Code:    {info['exitCode']}")
    if info.get("startedAt"):
        lines.append(f"{indent}  Started:      {rfc1123(info['startedAt'])}")
    if info.get("finishedAt"):
        lines.append(f"{indent}  Finished:     {rfc1123(info['finishedAt'])}")
    return lines


def container_lines(c: Obj, status: Obj) -> list[str]:
    i = "    "
    lines = [f"  {c['name']}:",
             f"{i}Container ID:   {status.get('containerID', '')}".rstrip(),
             f"{i}Image:          {c.get('image', '')}",
             f"{i}Image ID:       {status.get('imageID', '')}".rstrip()]
    ports = ", ".join(f"{p['containerPort']}/{p.get('protocol', 'TCP')}"
                      for p in c.get("ports") or []) or "<none>"
    lines += [f"{i}Port:           {ports}", f"{i}Host Port:      "
              + (", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}"
                           for p in c.get("ports") or []) or "<none>")]
    if c.get("command"):
        lines += [f"{i}Command:"] + [f"{i}  {a}" for a in c["command"]]
    if c.get("args"):
        lines += [f"{i}Args:"] + [f"{i}  {a}" for a in c["args"]]
    lines += state_lines(status.get("state") or {}, i)
    if status.get("lastState"):
        lines += [line.replace("State:     ", "Last State:", 1)
                  for line in state_lines(status["lastState"], i)]
    lines += [f"{i}Ready:          {str(bool(status.get('ready'))).capitalize()}",
              f"{i}Restart Count:  {status.get('restartCount', 0)}"]
    env = c.get("env") or []
    lines.append(f"{i}Environment:" + ("    <none>" if not env else ""))
    lines += [f"{i}  {e['name']}:  {e.get('value', '')}" for e in env]
    mounts = c.get("volumeMounts") or []
    lines.append(f"{i}Mounts:" + ("         <none>" if not mounts else ""))
    lines += [f"{i}  {m['mountPath']} from {m['name']} ({'ro' if m.get('readOnly') else 'rw'})"
              for m in mounts]
    return lines


def volume_lines(v: Obj) -> list[str]:
    lines = [f"  {v['name']}:"]
    if "emptyDir" in v:
        ed = v["emptyDir"] or {}
        lines += ["    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)",
                  f"    Medium:     {ed.get('medium', '')}".rstrip(),
                  f"    SizeLimit:  {ed.get('sizeLimit', '<unset>')}"]
    elif "configMap" in v:
        lines += ["    Type:      ConfigMap (a volume populated by a ConfigMap)",
                  f"    Name:      {v['configMap'].get('name', '')}",
                  f"    Optional:  {str(bool(v['configMap'].get('optional'))).lower()}"]
    elif "hostPath" in v:
        lines += ["    Type:          HostPath (bare host directory volume)",
                  f"    Path:          {v['hostPath'].get('path', '')}",
                  f"    HostPathType:  {v['hostPath'].get('type', '')}".rstrip()]
    elif "projected" in v:
        lines.append("    Type:                    Projected (a volume that contains injected data "
                     "from multiple sources)")
        for source in v["projected"].get("sources") or []:
            if "serviceAccountToken" in source:
                lines.append("    TokenExpirationSeconds:  "
                             f"{source['serviceAccountToken'].get('expirationSeconds', 3607)}")
            elif "configMap" in source:
                lines += [f"    ConfigMapName:           {source['configMap'].get('name', '')}",
                          "    ConfigMapOptional:       <nil>"]
            elif "downwardAPI" in source:
                lines.append("    DownwardAPI:             true")
    elif "image" in v:
        lines += ["    Type:        Image (a container image or OCI artifact)",
                  f"    Reference:   {v['image'].get('reference', '')}",
                  f"    PullPolicy:  {v['image'].get('pullPolicy', '')}"]
    else:
        kind = next((k for k in v if k != "name"), "")
        lines.append(f"    Type:  {kind}")
    return lines


def events_lines(events: list[Obj]) -> list[str]:
    if not events:
        return ["Events:                      <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"],
            ["----", "------", "----", "----", "-------"]]
    for e in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent", "")
        rows.append([e.get("type", ""), e.get("reason", ""), printers.event_interval(e),
                     source, (e.get("message") or "").strip()])
    table = printers.layout(rows).rstrip("\n").split("\n")
    return ["Events:"] + ["  " + line for line in table]


def describe_pod(pod: Obj, events: list[Obj]) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    labels, annotations = mapping(meta.get("labels")), mapping(shown(meta.get("annotations")))
    lines = [f"Name:             {meta['name']}",
             f"Namespace:        {meta.get('namespace', '')}",
             f"Priority:         {spec.get('priority', 0)}",
             f"Service Account:  {spec.get('serviceAccountName', 'default')}",
             f"Node:             {spec.get('nodeName', '<none>')}"
             + (f"/{status['hostIP']}" if status.get("hostIP") else ""),
             f"Start Time:       {rfc1123(status.get('startTime'))}",
             f"Labels:           {labels[0]}"] + [f"                  {x}" for x in labels[1:]]
    lines += [f"Annotations:      {annotations[0]}"] + \
        [f"                  {x}" for x in annotations[1:]]
    if meta.get("deletionTimestamp"):
        lasts = printers.age(meta["deletionTimestamp"])
        lines.append(f"Status:           Terminating (lasts {lasts})")
    else:
        lines.append(f"Status:           {status.get('phase', '')}")
    ips = [p.get("ip") for p in status.get("podIPs") or []] or \
        ([status["podIP"]] if status.get("podIP") else [])
    lines += [f"IP:               {ips[0] if ips else ''}".rstrip(), "IPs:" +
              ("" if ips else "              <none>")]
    lines += [f"  IP:  {ip}" for ip in ips]
    statuses = {s["name"]: s for s in status.get("containerStatuses") or []}
    inits = {s["name"]: s for s in status.get("initContainerStatuses") or []}
    if spec.get("initContainers"):
        lines.append("Init Containers:")
        for c in spec["initContainers"]:
            lines += container_lines(c, inits.get(c["name"], {}))
    lines.append("Containers:")
    for c in spec.get("containers") or []:
        lines += container_lines(c, statuses.get(c["name"], {}))
    conds = status.get("conditions") or []
    if conds:
        rows = [["Type", "Status"]] + [[c["type"], c["status"]] for c in conds]
        lines += ["Conditions:"] + ["  " + r for r in
                                    printers.layout(rows).rstrip("\n").split("\n")]
    lines.append("Volumes:" + ("" if spec.get("volumes") else "  <none>"))
    for v in spec.get("volumes") or []:
        lines += volume_lines(v)
    lines.append(f"QoS Class:                   {status.get('qosClass', 'BestEffort')}")
    selector = mapping(spec.get("nodeSelector"))
    lines.append(f"Node-Selectors:              {selector[0]}")
    tolerations = [_toleration(t) for t in spec.get("tolerations") or []] or ["<none>"]
    lines += [f"Tolerations:                 {tolerations[0]}"] + \
        [f"                             {t}" for t in tolerations[1:]]
    lines += events_lines(events)
    return "\n".join(lines) + "\n"


def _toleration(t: Obj) -> str:
    text: str = t.get("key", "")
    if t.get("operator") == "Exists" and not text:
        text = ""
    if t.get("value"):
        text += f"={t['value']}"
    text += f":{t['effect']}" if t.get("effect") else ""
    text += " op=Exists" if t.get("operator") == "Exists" else ""
    if t.get("tolerationSeconds") is not None:
        text += f" for {t['tolerationSeconds']}s"
    return text


def describe_generic(obj: Obj, events: list[Obj]) -> str:
    meta = obj["metadata"]
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    lines = [f"Name:         {meta['name']}"]
    if meta.get("namespace"):
        lines.append(f"Namespace:    {meta['namespace']}")
    labels, annotations = mapping(meta.get("labels")), mapping(shown(meta.get("annotations")))
    lines += [f"Labels:       {labels[0]}"] + [f"              {x}" for x in labels[1:]]
    lines += [f"Annotations:  {annotations[0]}"] + [f"              {x}" for x in annotations[1:]]
    if body:
        lines.append("")
        lines.append(printers.to_yaml(body).rstrip("\n"))
    lines.append("")
    lines += events_lines(events)
    return "\n".join(lines) + "\n"


def fetch_events(client: clientmod.Client, obj: Obj) -> list[Obj]:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    selector = (f"involvedObject.name={meta['name']},involvedObject.namespace={ns or ''},"
                f"involvedObject.uid={meta.get('uid', '')}")
    path = clientmod.with_query(clientmod.resource_path("events", ns), {"fieldSelector": selector})
    try:
        items = client.get(path).get("items") or []
    except StatusError:
        return []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == meta["name"]]


def describe(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client)
    errors, first = [], True
    for resource, name in targets(args.args):
        try:
            found = fetch(client, resource, ns, name, {"labelSelector": args.selector})
        except StatusError as e:
            errors.append(e.render())
            continue
        for obj in [found] if name else found.get("items") or []:
            text = (describe_pod if resource.plural == "pods" else describe_generic)(
                obj, fetch_events(client, obj))
            sys.stdout.write(("" if first else "\n\n") + text)
            first = False
    return report(errors)
