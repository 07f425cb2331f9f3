#!/usr/bin/env python3
"""Write src/podhost/apiserver/proto_schemas.json: the protobuf field numbers of the apps/v1
and batch/v1 workload kinds (and the core/v1 messages they contain), read from the
generated.proto files of a kubernetes/api checkout, so that the typed bodies kubectl sends
(`kubectl create job --from=cronjob/X`, `kubectl create deployment`) decode.

    hack/gen-proto-schemas.py /path/to/kubernetes/api [REF]

A message is {field number: [json name, type]}; a type is a scalar ("string", "int", "bool",
"bytes", "intorstr", "quantity", "time", "raw"), a message name, ["list", type] or
["map", type].
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOTS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
         "ControllerRevision", "Pod"}
FIELD = re.compile(r"^\s*(optional|repeated)?\s*(map<\s*string\s*,\s*([\w.]+)\s*>|[\w.]+)\s+"
                   r"(\w+)\s*=\s*(\d+)\s*;")
SPECIAL = {"k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
           "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstr",
           "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
           "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "time",
           "k8s.io.apimachinery.pkg.runtime.RawExtension": "raw",
           "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta": "ObjectMeta",
           "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector": "LabelSelector",
           "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "string"}
SCALARS = {"string": "string", "int32": "int", "int64": "int", "bool": "bool", "bytes": "bytes",
           "double": "string", "float": "string"}
META = {  # k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto
    "ObjectMeta": {1: ["name", "string"], 2: ["generateName", "string"],
                   3: ["namespace", "string"], 5: ["uid", "string"],
                   6: ["resourceVersion", "string"], 7: ["generation", "int"],
                   11: ["labels", ["map", "string"]], 12: ["annotations", ["map", "string"]],
                   13: ["ownerReferences", ["list", "OwnerReference"]],
                   14: ["finalizers", ["list", "string"]]},
    "OwnerReference": {1: ["kind", "string"], 3: ["name", "string"], 4: ["uid", "string"],
                       5: ["apiVersion", "string"], 6: ["controller", "bool"],
                       7: ["blockOwnerDeletion", "bool"]},
    "LabelSelector": {1: ["matchLabels", ["map", "string"]],
                      2: ["matchExpressions", ["list", "LabelSelectorRequirement"]]},
    "LabelSelectorRequirement": {1: ["key", "string"], 2: ["operator", "string"],
                                 3: ["values", ["list", "string"]]},
}


def messages(text: str) -> dict[str, dict[int, list[object]]]:
    out: dict[str, dict[int, list[object]]] = {}
    current: dict[int, list[object]] | None = None
    for line in text.splitlines():
        if m := re.match(r"^message (\w+) \{", line):
            current = out.setdefault(m.group(1), {})
        elif line.startswith("}"):
            current = None
        elif current is not None and (f := FIELD.match(line)):
            label, typ, value, name, number = f.groups()
            kind = _type(value) if value else _type(typ)
            current[int(number)] = [name, ["map", kind] if value else
                                    ["list", kind] if label == "repeated" else kind]
    return out


def _type(name: str) -> str:
    name = name.lstrip(".")
    if name in SPECIAL:
        return SPECIAL[name]
    return SCALARS.get(name, name.rsplit(".", 1)[-1])


def main() -> None:
    repo, ref = Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    table: dict[str, dict[int, list[object]]] = dict(META)
    for path in ("core/v1/generated.proto", "apps/v1/generated.proto",
                 "batch/v1/generated.proto"):
        text = subprocess.run(["git", f"--git-dir={repo}", "show", f"{ref}:{path}"],
                              capture_output=True, text=True, check=True).stdout
        for name, fields in messages(text).items():
            table.setdefault(name, fields)
    keep: dict[str, dict[int, list[object]]] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep or name not in table:
            continue
        keep[name] = table[name]
        for _, kind in table[name].values():
            inner = kind[1] if isinstance(kind, list) else kind
            if isinstance(inner, str) and inner in table:
                todo.append(inner)
    out = Path(__file__).resolve().parent.parent / "src/podhost/apiserver/proto_schemas.json"
    out.write_text(json.dumps(dict(sorted(keep.items())), separators=(",", ":")) + "\n")
    print(f"{out}: {len(keep)} messages")


if __name__ == "__main__":
    main()
