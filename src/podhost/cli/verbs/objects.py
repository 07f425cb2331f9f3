"""Verbs on API objects: apply, create, get, delete, wait, events. Only the standard API."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli import manifests, printers
from podhost.cli.context import Resource, by_kind, client_for, expand, lookup, namespace_of
from podhost.cli.errors import CliError, StatusError

# ---- shared helpers ----------------------------------------------------------------------

def parse_duration(text: str) -> float:
    """Go durations as kubectl takes them: 30s, 1m30s, 2h, 500ms; a bare number is seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise CliError(f"error: invalid duration \"{text}\"")
    return sum(float(n) * units[u] for n, u in parts)


def targets(words: list[str]) -> list[tuple[Resource, str | None]]:
    """`pods`, `pod x y`, `pod/x pod/y`, `pods,configmaps` → (resource, name or None) pairs."""
    if not words:
        raise CliError("error: you must specify the type of resource to get")
    if "/" in words[0]:
        out: list[tuple[Resource, str | None]] = []
        for word in words:
            if "/" not in word:
                raise CliError("error: there is no need to specify a resource type as a separate "
                               "argument when passing arguments in resource/name form")
            kind, name = word.split("/", 1)
            out.append((lookup(kind), name))
        return out
    kinds = list(dict.fromkeys(r for k in words[0].split(",") if k for r in expand(k)))
    if len(words) == 1:
        return [(k, None) for k in kinds]
    return [(k, n) for k in kinds for n in words[1:]]


def object_ns(resource: Resource, ns: str | None, obj: Obj | None = None) -> str | None:
    if not resource.namespaced:
        return None
    return ((obj or {}).get("metadata") or {}).get("namespace") or ns


def path_of(resource: Resource, ns: str | None, name: str | None = None,
            sub: str | None = None) -> str:
    return clientmod.resource_path(resource.plural, object_ns(resource, ns), name, sub,
                                   resource.group_version)


def report(errors: list[str]) -> int:
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


def files_objects(args: argparse.Namespace) -> Iterator[tuple[str, Obj]]:
    for name in args.filename or []:
        for source in manifests.manifest_files(name, getattr(args, "recursive", False)):
            for obj in manifests.read_documents(source):
                yield ("STDIN" if source == "-" else source), obj


# ---- apply / create ----------------------------------------------------------------------

WRITE_QUERY = {"fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"}


def apply_one(client: clientmod.Client, obj: Obj, ns: str) -> str:
    resource = by_kind(obj.get("kind", ""), obj.get("apiVersion", ""))
    name = obj.get("metadata", {}).get("name")
    if not name:
        raise CliError("error: resource name may not be empty")
    desired = manifests.with_last_applied(obj)
    label = f"{resource.qualified}/{name}"
    try:
        live = client.get(path_of(resource, ns, name, None))
    except StatusError as e:
        if e.code_http != 404:
            raise
        if resource.namespaced:
            desired["metadata"]["namespace"] = object_ns(resource, ns, obj)
        client.request("POST", clientmod.with_query(_collection(resource, ns, obj), WRITE_QUERY),
                       desired)
        return f"{label} created"
    patch = manifests.three_way_patch(manifests.last_applied(live), desired, live)
    if not patch:
        return f"{label} unchanged"
    client.request("PATCH", clientmod.with_query(path_of(resource, object_ns(resource, ns, obj),
                                                         name), WRITE_QUERY),
                   patch, content_type="application/strategic-merge-patch+json")
    return f"{label} configured"


def _collection(resource: Resource, ns: str | None, obj: Obj) -> str:
    return path_of(resource, object_ns(resource, ns, obj))


SSA_CONFLICT_HELP = """Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts"""


def server_side_apply_one(client: clientmod.Client, obj: Obj, ns: str,
                          args: argparse.Namespace) -> str:
    """`kubectl apply --server-side`: the whole object as an apply patch."""
    resource = by_kind(obj.get("kind", ""), obj.get("apiVersion", ""))
    name = obj.get("metadata", {}).get("name")
    if not name:
        raise CliError("error: resource name may not be empty")
    query = {"fieldManager": getattr(args, "field_manager", None) or "kubectl",
             "fieldValidation": "Strict",
             "force": "true" if getattr(args, "force_conflicts", False) else "false"}
    path = path_of(resource, object_ns(resource, ns, obj), name)
    try:
        client.request("PATCH", clientmod.with_query(path, query), obj,
                       content_type="application/apply-patch+yaml")
    except StatusError as e:
        if e.code_http == 409 and e.reason == "Conflict":
            raise CliError(f"error: {e.status.get('message', '')}\n{SSA_CONFLICT_HELP}") from e
        raise
    return f"{resource.qualified}/{name} serverside-applied"


def apply(args: argparse.Namespace) -> int:
    applied: list[tuple[str, str]] = []  # the Pods to follow with --wait

    def one(client: clientmod.Client, obj: Obj, ns: str) -> str:
        if getattr(args, "server_side", False):
            line = server_side_apply_one(client, obj, ns, args)
        else:
            line = apply_one(client, obj, ns)
        if obj.get("kind") == "Pod":
            applied.append((object_ns(lookup("pods"), ns, obj) or ns, obj["metadata"]["name"]))
        return line

    code = _each_object(args, one, "creating")
    if code or not getattr(args, "wait", False):
        return code
    from podhost.cli.verbs.progress import follow_pod
    client = client_for(args)
    deadline = time.monotonic() + parse_duration(args.timeout)
    results = [follow_pod(client, ns, name, deadline) for ns, name in applied]
    return 0 if all(results) else 1


def create_one(client: clientmod.Client, obj: Obj, ns: str) -> str:
    resource = by_kind(obj.get("kind", ""), obj.get("apiVersion", ""))
    query = {"fieldManager": "kubectl-create", "fieldValidation": "Strict"}
    created = client.request("POST", clientmod.with_query(_collection(resource, ns, obj), query),
                             obj)
    return f"{resource.qualified}/{created['metadata']['name']} created"


def create(args: argparse.Namespace) -> int:
    return _each_object(args, create_one, "creating")


def _each_object(args: argparse.Namespace, action: Any, doing: str) -> int:
    if not args.filename:
        raise CliError("error: must specify one of -f and -k")
    client = client_for(args)
    errors = []
    for source, obj in files_objects(args):
        try:
            print(action(client, obj, client.namespace), flush=True)
        except StatusError as e:
            errors.append(e.with_context(f"error when {doing} \"{source}\"").render())
        except CliError as e:
            errors.append(e.render())
    return report(errors)


# ---- get ---------------------------------------------------------------------------------

def list_query(args: argparse.Namespace) -> dict[str, Any]:
    return {"labelSelector": getattr(args, "selector", None),
            "fieldSelector": getattr(args, "field_selector", None)}


def fetch(client: clientmod.Client, resource: Resource, ns: str | None, name: str | None,
          query: dict[str, Any], accept: str = "application/json") -> Obj:
    path = path_of(resource, ns, name)
    found: Obj = client.get(path if name else clientmod.with_query(path, query), accept=accept)
    return found


def with_kind(resource: Resource, obj: Obj) -> Obj:
    return {"apiVersion": resource.group_version, "kind": resource.kind, **obj}


def get(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client)
    output = args.output or ""
    errors: list[str] = []
    objects: list[Obj] = []
    tables: list[tuple[Resource, Obj]] = []
    pairs = targets(args.args)
    for resource, name in pairs:
        try:
            if output in ("", "wide"):
                tables.append((resource, fetch(client, resource, ns, name, list_query(args),
                                               clientmod.TABLE_ACCEPT)))
            else:
                got = fetch(client, resource, ns, name, list_query(args))
                items = [got] if name else got.get("items") or []
                objects += [with_kind(resource, o) for o in items]
        except StatusError as e:
            errors.append(e.render())
    single = len(pairs) == 1 and pairs[0][1] is not None
    if output in ("", "wide"):
        _print_tables(args, tables, ns, errors)
        if args.watch and len(pairs) == 1:
            return _watch(client, pairs[0][0], ns, pairs[0][1], args, tables)
    else:
        print_objects(objects, output, single, pairs[0][0])
    return report(errors)


def _print_tables(args: argparse.Namespace, tables: list[tuple[Resource, Obj]], ns: str | None,
                  errors: list[str]) -> None:
    total = 0
    with_kind = len({r for r, _ in tables}) > 1  # kubectl: `pod/x` once types are mixed
    for resource, table in tables:
        if table.get("kind") != "Table":
            table = printers.objects_table(table["items"] if "items" in table else [table])
        rows = printers.table_rows(table, args.output == "wide",
                                   bool(args.all_namespaces) and resource.namespaced,
                                   not args.no_headers, args.show_labels,
                                   resource.qualified if with_kind else "")
        if len(rows) > (0 if args.no_headers else 1):
            total += 1
            if total > 1:
                print()
            sys.stdout.write(printers.layout(rows))
    if total == 0 and not errors and not args.watch:
        scoped = ns and any(r.namespaced for r, _ in tables) and not args.all_namespaces
        print(f"No resources found in {ns} namespace." if scoped else "No resources found",
              file=sys.stderr)


def print_objects(objects: list[Obj], output: str, single: bool, resource: Resource) -> None:
    data: Any = objects[0] if single and objects else printers.as_list(objects)
    if output == "json":
        sys.stdout.write(printers.to_json(data))
    elif output == "yaml":
        sys.stdout.write(printers.to_yaml(data))
    elif output == "name":
        for o in objects:
            print(f"{lookup(o.get('kind', resource.kind)).qualified}/{o['metadata']['name']}")
    elif output.startswith(("jsonpath=", "jsonpath-as-json=")):
        try:
            sys.stdout.write(printers.jsonpath(output.split("=", 1)[1], data))
        except (printers.JsonPathError, ValueError) as e:
            raise CliError(f"error: error parsing jsonpath {output.split('=', 1)[1]}, {e}") from e
    elif output.startswith("custom-columns="):
        sys.stdout.write(custom_columns(output.split("=", 1)[1], objects))
    else:
        raise CliError(f"error: unable to match a printer suitable for the output format "
                       f"\"{output}\", allowed formats are: custom-columns,json,jsonpath,name,"
                       "wide,yaml")


def custom_columns(spec: str, objects: list[Obj]) -> str:
    columns = [c.split(":", 1) for c in spec.split(",")]
    rows = [[h for h, _ in columns]]
    for o in objects:
        rows.append([" ".join(printers.cell_text(v) for v in printers.evaluate(p, o)) or "<none>"
                     for _, p in columns])
    return printers.layout(rows)


def _watch(client: clientmod.Client, resource: Resource, ns: str | None, name: str | None,
           args: argparse.Namespace, tables: list[tuple[Resource, Obj]]) -> int:
    rv = (tables[0][1].get("metadata") or {}).get("resourceVersion", "") if tables else ""
    query = {**list_query(args), "watch": True, "resourceVersion": rv}
    if name:
        query["fieldSelector"] = f"metadata.name={name}"
    header = printers.table_rows(tables[0][1], args.output == "wide",
                                 bool(args.all_namespaces), True, args.show_labels)
    path = clientmod.with_query(path_of(resource, ns), query)
    try:
        for event in client.watch(path, accept=clientmod.TABLE_ACCEPT):
            obj = event.get("object") or {}
            if event.get("type") not in ("ADDED", "MODIFIED", "DELETED") or \
                    obj.get("kind") != "Table":
                continue
            rows = printers.table_rows({**obj, "columnDefinitions": tables[0][1].get(
                "columnDefinitions")}, args.output == "wide", bool(args.all_namespaces), False,
                args.show_labels)
            for row in rows:
                sys.stdout.write(printers.layout([header[0], row]).split("\n", 1)[1])
                sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0


# ---- delete ------------------------------------------------------------------------------

def delete_options(args: argparse.Namespace) -> Obj:
    body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    grace = args.grace_period
    if args.force and (grace is None or grace < 0):
        grace = 0
    if args.now:
        grace = 1
    if grace is not None and grace >= 0:
        body["gracePeriodSeconds"] = grace
    return body


def delete_targets(args: argparse.Namespace, client: clientmod.Client,
                   ns: str | None) -> list[tuple[Resource, str, str | None]]:
    if args.filename:
        return [(by_kind(o["kind"], o.get("apiVersion", "")), o["metadata"]["name"],
                 object_ns(by_kind(o["kind"], o.get("apiVersion", "")), ns, o))
                for _, o in files_objects(args)]
    pairs = targets(args.args)
    out = []
    for resource, name in pairs:
        if name:
            out.append((resource, name, object_ns(resource, ns)))
            continue
        if not (args.all or args.selector or args.field_selector):
            raise CliError("error: resource(s) were provided, but no name was specified")
        listing = fetch(client, resource, ns, None, list_query(args))
        out += [(resource, o["metadata"]["name"], o["metadata"].get("namespace"))
                for o in listing.get("items") or []]
    return out


def delete(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client)
    if args.force and args.grace_period in (None, 0):
        print("Warning: Immediate deletion does not wait for confirmation that the running "
              "resource has been terminated. The resource may continue to run on the cluster "
              "indefinitely.", file=sys.stderr)
    errors, deleted = [], []
    for resource, name, obj_ns in delete_targets(args, client, ns):
        try:
            client.request("DELETE", path_of(resource, obj_ns, name), delete_options(args))
        except StatusError as e:
            errors.append(e.render())
            continue
        verb = "force deleted" if args.force and args.grace_period in (None, 0) else "deleted"
        print(f"{resource.qualified} \"{name}\" {verb}", flush=True)
        deleted.append((resource, name, obj_ns))
    if args.wait:
        timeout = parse_duration(args.timeout) if args.timeout else 0
        deadline = time.monotonic() + (timeout or 3600 * 24 * 7)
        for resource, name, obj_ns in deleted:
            if not wait_gone(client, resource, obj_ns, name, deadline):
                errors.append(f"error: timed out waiting for the condition on "
                              f"{resource.plural}/{name}")
    return report(errors)


def wait_gone(client: clientmod.Client, resource: Resource, ns: str | None, name: str,
              deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            client.get(path_of(resource, ns, name))
        except StatusError as e:
            if e.code_http == 404:
                return True
            raise
        time.sleep(0.2)
    return False


# ---- wait --------------------------------------------------------------------------------

def parse_for(text: str) -> tuple[str, str, str]:
    """`condition=Ready`, `condition=Ready=False`, `delete`, `jsonpath={.status.phase}=Running`."""
    if text == "delete":
        return "delete", "", ""
    kind, _, rest = text.partition("=")
    if kind == "condition" and rest:
        cond, _, value = rest.partition("=")
        return "condition", cond, value or "True"
    if kind == "jsonpath" and rest:
        expr, _, value = rest.rpartition("=")
        return "jsonpath", expr, value
    raise CliError(f"error: unrecognized condition: \"{text}\"")


def condition_met(obj: Obj, mode: str, key: str, value: str) -> bool:
    if mode == "condition":
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type", "").lower() == key.lower():
                return str(cond.get("status")).lower() == value.lower()
        return False
    if mode == "jsonpath":
        found = printers.evaluate(key.strip("{}"), obj)
        return bool(found) and printers.cell_text(found[0]) == value
    return False


def wait(args: argparse.Namespace) -> int:
    if not args.for_:
        raise CliError("error: --for must be specified")
    mode, key, value = parse_for(args.for_)
    client = client_for(args)
    ns = namespace_of(args, client)
    deadline = time.monotonic() + parse_duration(args.timeout)
    errors: list[str] = []
    for resource, name in targets(args.args):
        if name is None:
            raise CliError("error: resource name may not be empty")
        if not wait_one(client, resource, ns, name, mode, key, value, deadline, errors):
            continue
        print(f"{resource.qualified}/{name} condition met", flush=True)
    return report(errors)


def wait_one(client: clientmod.Client, resource: Resource, ns: str | None, name: str, mode: str,
             key: str, value: str, deadline: float, errors: list[str]) -> bool:
    while True:
        try:
            obj = client.get(path_of(resource, ns, name))
            if condition_met(obj, mode, key, value):
                return True
        except StatusError as e:
            if e.code_http == 404 and mode == "delete":
                return True
            if e.code_http != 404 or time.monotonic() >= deadline:
                errors.append(e.render())
                return False
        if time.monotonic() >= deadline:
            errors.append(f"error: timed out waiting for the condition on "
                          f"{resource.plural}/{name}")
            return False
        time.sleep(0.2)


# ---- events ------------------------------------------------------------------------------

EPOCH = datetime.fromtimestamp(0, timezone.utc)


def event_time(e: Obj) -> str:
    """The sort key of `kubectl events`: series.lastObservedTime, lastTimestamp, eventTime."""
    return ((e.get("series") or {}).get("lastObservedTime") or e.get("lastTimestamp")
            or e.get("eventTime") or e.get("firstTimestamp") or "")


def events_rows(items: list[Obj], all_namespaces: bool) -> list[list[str]]:
    """`kubectl events` rows: LAST SEEN as `10s (x3 over 40s)`, OBJECT as Kind/name."""
    rows = [(["NAMESPACE"] if all_namespaces else [])
            + ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]]
    for e in sorted(items, key=lambda e: printers.parse_time(event_time(e)) or EPOCH):
        obj = e.get("involvedObject") or {}
        rows.append(([e["metadata"].get("namespace", "")] if all_namespaces else []) + [
            printers.event_interval(e), e.get("type", ""), e.get("reason", ""),
            f"{obj.get('kind', '')}/{obj.get('name', '')}",
            (e.get("message") or "").strip()])
    return rows


def events(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns = namespace_of(args, client)
    query: Obj = {}
    if args.for_:
        resource, name = targets([args.for_])[0]
        query["fieldSelector"] = f"involvedObject.kind={resource.kind},involvedObject.name={name}"
    items = fetch(client, lookup("events"), ns, None, query).get("items") or []
    if not items:
        print(f"No events found in {ns} namespace." if ns else "No events found",
              file=sys.stderr)
        return 0
    sys.stdout.write(printers.layout(events_rows(items, bool(args.all_namespaces))))
    return 0
