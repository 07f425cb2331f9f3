#!/usr/bin/env python3
"""Write src/podhost/apiserver/proto_schemas.json: the protobuf field numbers of every message of
k8s.io/api and of apimachinery's meta/v1 (the option types: DeleteOptions, CreateOptions, …),
with the JSON name of each field and whether a zero value stays, read from the generated.proto
and types.go files of kubernetes/api and kubernetes/apimachinery checkouts (git directories):

    hack/gen-proto-schemas.py API_GIT_DIR APIMACHINERY_GIT_DIR [REF]     # REF: v0.32.9

Messages are named `<group>/<version>.<Message>` (`apps/v1.Deployment`, `meta/v1.ObjectMeta`).
A field is [json name, type] or [json name, type, flags]; a type is a scalar ("string", "int",
"bool", "bytes", "double", "intorstr", "quantity", "time", "duration", "raw"), a message name,
["list", type] or ["map", type]. Flags: "k" keeps a zero value (a pointer or a field without
omitempty, which Go's JSON encoder writes), "i" is an embedded struct (`json:",inline"`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

FIELD = re.compile(r"^\s*(optional|repeated)?\s*(map<\s*string\s*,\s*([\w.]+)\s*>|[\w.]+)\s+"
                   r"(\w+)\s*=\s*(\d+)\s*;")
SPECIAL = {"api/resource.Quantity": "quantity", "util/intstr.IntOrString": "intorstr",
           "meta/v1.Time": "time", "meta/v1.MicroTime": "time", "meta/v1.Duration": "duration",
           "meta/v1.FieldsV1": "raw", "pkg/runtime.RawExtension": "raw"}
SCALARS = {"string": "string", "int32": "int", "int64": "int", "bool": "bool", "bytes": "bytes",
           "double": "double", "float": "double"}
MACHINERY_FILES = {"meta/v1": "pkg/apis/meta/v1", "meta/v1beta1": "pkg/apis/meta/v1beta1"}
GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")


def git(repo: Path, ref: str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True,
                          check=True).stdout


def package_key(proto_package: str) -> str:
    """`k8s.io.api.apps.v1` → `apps/v1`; `k8s.io.apimachinery.pkg.apis.meta.v1` → `meta/v1`."""
    parts = proto_package.split(".")
    return f"{parts[-2]}/{parts[-1]}"


def type_name(name: str, package: str) -> str:
    name = name.lstrip(".")
    if name in SCALARS:
        return SCALARS[name]
    if "." not in name:
        qualified = f"{package}.{name}"
    else:
        prefix, _, message = name.rpartition(".")
        qualified = f"{package_key(prefix)}.{message}"
    return SPECIAL.get(qualified, qualified)


def messages(text: str) -> tuple[str, dict[str, dict[int, list[object]]]]:
    package = package_key(re.search(r"^package ([\w.]+);", text, re.M).group(1))  # type: ignore
    out: dict[str, dict[int, list[object]]] = {}
    current: dict[int, list[object]] | None = None
    for line in text.splitlines():
        if m := re.match(r"^message (\w+) \{", line):
            current = out.setdefault(f"{package}.{m.group(1)}", {})
        elif line.startswith("}"):
            current = None
        elif current is not None and (f := FIELD.match(line)):
            label, typ, value, name, number = f.groups()
            kind = type_name(value or typ, package)
            current[int(number)] = [name, ["map", kind] if value else
                                    ["list", kind] if label == "repeated" else kind]
    return package, out


def go_fields(sources: list[str]) -> dict[tuple[str, int], tuple[str, str]]:
    """(struct, protobuf number) → (json name, flags) from the Go types' struct tags."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    struct = ""
    for text in sources:
        for line in text.splitlines():
            if m := re.match(r"^type (\w+) struct \{", line):
                struct = m.group(1)
            elif line.startswith("}"):
                struct = ""
            elif struct and (f := GO_FIELD.match(line)):
                name, typ, tags = f.groups()
                proto = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tags)
                js = re.search(r'json:"([^"]*)"', tags)
                if proto is None or js is None:
                    continue
                json_name, _, options = js.group(1).partition(",")
                if not json_name and "inline" in options:
                    flags = "i"
                else:
                    keep = typ.startswith("*") or "omitempty" not in options
                    flags = "k" if keep and not typ.startswith(("[]", "map[")) else ""
                out[(struct, int(proto.group(1)))] = (json_name or (name or ""), flags)
    return out


def package_sources(repo: Path, ref: str, directory: str) -> list[str]:
    names = git(repo, ref, "ls-tree", "--name-only", f"{ref}:{directory}").split()
    return [git(repo, ref, "show", f"{ref}:{directory}/{n}") for n in names
            if n.endswith(".go") and not n.endswith("_test.go") and "generated" not in n]


def load(repo: Path, ref: str, proto: str, directory: str,
         table: dict[str, dict[int, list[object]]]) -> None:
    package, found = messages(git(repo, ref, "show", f"{ref}:{proto}"))
    go = go_fields(package_sources(repo, ref, directory))
    for full, fields in found.items():
        struct = full.split(".", 1)[1]
        for number, field in fields.items():
            json_name, flags = go.get((struct, number), (str(field[0]), ""))
            field[0] = json_name
            if flags:
                field.append(flags)
        table[full] = fields


def list_aliases(table: dict[str, dict[int, list[object]]]) -> None:
    """Messages that are a list of strings on the JSON side (`ExtraValue`, `Verbs`)."""
    aliases = {name for name, fields in table.items()
               if list(fields) == [1] and fields[1][:2] == ["items", ["list", "string"]]}
    for fields in table.values():
        for field in fields.values():
            kind = field[1]
            if isinstance(kind, list) and kind[1] in aliases:
                field[1] = [kind[0], "stringlist"]
            elif isinstance(kind, str) and kind in aliases:
                field[1] = ["list", "string"]


def main() -> None:
    api, machinery = Path(sys.argv[1]), Path(sys.argv[2])
    ref = sys.argv[3] if len(sys.argv) > 3 else "v0.32.9"
    table: dict[str, dict[int, list[object]]] = {}
    for key, directory in MACHINERY_FILES.items():
        load(machinery, ref, f"{directory}/generated.proto", directory, table)
        assert any(name.startswith(key + ".") for name in table), key
    for path in git(api, ref, "ls-tree", "-r", "--name-only", ref).split():
        if path.endswith("/generated.proto"):
            load(api, ref, path, path.rsplit("/", 1)[0], table)
    list_aliases(table)
    out = Path(__file__).resolve().parent.parent / "src/podhost/apiserver/proto_schemas.json"
    body = {name: {str(n): f for n, f in sorted(fields.items())}
            for name, fields in sorted(table.items())}
    out.write_text(json.dumps({"ref": ref, "messages": body}, separators=(",", ":")) + "\n")
    print(f"{out}: {len(body)} messages")


if __name__ == "__main__":
    main()
