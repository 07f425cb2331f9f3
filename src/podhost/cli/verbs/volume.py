"""`podhost volume ls|cat|cp`: a Pod's volumes read and written by the node, through the API
(`/api/v1/nodes/NODE/proxy/podhost/volumes/NS/POD/VOLUME/PATH`), so they work on images with no
shell, `cat` or `tar`; and the fallback `podhost cp` uses when a container has no `tar`."""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import stat
import sys
import time
from typing import Any, BinaryIO
from urllib.parse import quote

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.context import client_for
from podhost.cli.errors import CliError

CHUNK = 1 << 20  # request bodies stay well under the API server's 3 MiB limit
SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "image",
           "persistentVolumeClaim", "ephemeral")


def get_pod(client: clientmod.Client, ns: str, name: str) -> Obj:
    pod: Obj = client.get(clientmod.resource_path("pods", ns, name),
                          accept="application/json, */*")
    return pod


def split_remote(spec: str, default_ns: str) -> tuple[str, str, str] | None:
    """`[ns/]pod:VOLUME/PATH` → (ns, pod, VOLUME/PATH); a local path → None."""
    if ":" not in spec or spec.startswith(("/", ".")):
        return None
    target, path = spec.split(":", 1)
    ns, _, pod = target.rpartition("/")
    return ns or default_ns, pod, path


def volume_url(pod: Obj, volume: str, path: str) -> str:
    m = pod["metadata"]
    node = pod["spec"].get("nodeName") or ""
    if not node:
        raise CliError(f'error: pod "{m["name"]}" is not running on a node yet')
    rel = "/".join(quote(p, safe="") for p in path.split("/") if p)
    return (f"/api/v1/nodes/{quote(node, safe='')}/proxy/podhost/volumes/"
            f"{quote(m.get('namespace') or 'default', safe='')}/{quote(m['name'], safe='')}/"
            f"{quote(volume, safe='')}" + (f"/{rel}" if rel else ""))


def split_volume(spec: str) -> tuple[str, str]:
    """`VOLUME[/PATH]` → (volume, path)."""
    volume, _, path = spec.strip("/").partition("/")
    if not volume:
        raise CliError("error: a volume name is required (VOLUME[/PATH])")
    return volume, path


def listing(client: clientmod.Client, pod: Obj, volume: str, path: str
            ) -> tuple[str, list[Obj]]:
    """The path's type and the entries of the directory (or the file's own)."""
    body = client.get(volume_url(pod, volume, path) + "?op=ls")
    if isinstance(body, bytes):
        body = json.loads(body)
    return str(body.get("type") or ""), list(body.get("entries") or [])


def _source(volume: Obj) -> str:
    return next((k for k in SOURCES if volume.get(k) is not None), "unknown")


def ls(args: argparse.Namespace) -> int:
    client = client_for(args)
    pod = get_pod(client, client.namespace, args.pod)
    if not args.target:
        mounts: dict[str, list[str]] = {}
        for c in pod["spec"].get("containers") or []:
            for vm in c.get("volumeMounts") or []:
                mounts.setdefault(vm["name"], []).append(f"{c['name']}:{vm['mountPath']}")
        rows: list[list[str]] = [
            [v["name"], _source(v), ", ".join(mounts.get(v["name"], [])) or "<none>"]
            for v in pod["spec"].get("volumes") or []]
        _table(["VOLUME", "TYPE", "MOUNTED AT"], rows)
        return 0
    volume, path = split_volume(args.target)
    rows = [[e["mode"] if e["type"] != "directory" else "d" + e["mode"][1:], str(e["size"]),
             time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["mtime"])),
             e["name"] + ("/" if e["type"] == "directory" else "")
             + (f" -> {e['target']}" if e.get("target") else "")]
            for e in listing(client, pod, volume, path)[1]]
    _table(["MODE", "SIZE", "MODIFIED", "NAME"], rows)
    return 0


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def cat(args: argparse.Namespace) -> int:
    client = client_for(args)
    pod = get_pod(client, client.namespace, args.pod)
    volume, path = split_volume(args.target)
    _download(client, pod, volume, path, sys.stdout.buffer)
    return 0


def _download(client: clientmod.Client, pod: Obj, volume: str, path: str, out: BinaryIO) -> None:
    response = client.open("GET", volume_url(pod, volume, path), accept="*/*", timeout=None)
    while chunk := response.read(CHUNK):
        out.write(chunk)
    out.flush()


def cp(args: argparse.Namespace) -> int:
    client = client_for(args)
    src, dst = (split_remote(s, client.namespace) for s in (args.src, args.dest))
    if dst is not None and src is None:
        ns, name, spec = dst
        volume, path = split_volume(spec)
        upload(client, get_pod(client, ns, name), volume, path, args.src)
        return 0
    if src is not None and dst is None:
        ns, name, spec = src
        volume, path = split_volume(spec)
        download(client, get_pod(client, ns, name), volume, path, args.dest)
        return 0
    raise CliError("error: one of src or dest must be a local file specification "
                   "([ns/]POD:VOLUME/PATH and a local path)")


def download(client: clientmod.Client, pod: Obj, volume: str, path: str, local: str) -> None:
    """A file or a whole directory of the volume to `local` (into it when it is a directory)."""
    kind, entries = listing(client, pod, volume, path)
    target = local
    if os.path.isdir(local):
        target = os.path.join(local, posixpath.basename(path.rstrip("/")) or volume)
    if kind != "directory":
        if kind != "file":
            raise CliError(f"error: {volume}/{path} is a {kind}, not a file or directory")
        _fetch_file(client, pod, volume, path, target, entries[0])
        return
    _fetch_tree(client, pod, volume, path, target, entries)


def _fetch_tree(client: clientmod.Client, pod: Obj, volume: str, path: str, target: str,
                entries: list[Obj]) -> None:
    os.makedirs(target, exist_ok=True)
    for e in entries:
        if e["name"] in ("", ".", "..") or "/" in e["name"]:
            continue
        sub = posixpath.join(path, e["name"])
        dest = os.path.join(target, e["name"])
        if e["type"] == "directory":
            _fetch_tree(client, pod, volume, sub, dest, listing(client, pod, volume, sub)[1])
        elif e["type"] == "file":
            _fetch_file(client, pod, volume, sub, dest, e)
        else:
            print(f"skipping {volume}/{sub}: a {e['type']}", file=sys.stderr)


def _fetch_file(client: clientmod.Client, pod: Obj, volume: str, path: str, dest: str,
                entry: Obj) -> None:
    with open(dest, "wb") as f:
        _download(client, pod, volume, path, f)
    os.chmod(dest, int(entry.get("mode") or "644", 8) & 0o777)


def upload(client: clientmod.Client, pod: Obj, volume: str, path: str, local: str) -> None:
    """A local file or directory into the volume (as `path`, or into it when `path` is an
    existing directory or ends with /)."""
    if not os.path.exists(local):
        raise CliError(f"error: {local} doesn't exist in local filesystem")
    base = os.path.basename(local.rstrip("/"))
    if not path or path.endswith("/") or _is_dir(client, pod, volume, path):
        path = posixpath.join(path, base)
    if os.path.isdir(local):
        _put(client, pod, volume, path, b"", {"type": "directory"})
        for name in sorted(os.listdir(local)):
            upload(client, pod, volume, posixpath.join(path, name), os.path.join(local, name))
        return
    mode = f"{stat.S_IMODE(os.stat(local).st_mode):o}"
    with open(local, "rb") as f:
        offset = 0
        while True:
            chunk = f.read(CHUNK)
            if offset and not chunk:
                break
            _put(client, pod, volume, path, chunk, {"offset": offset, "mode": mode})
            offset += len(chunk)
            if not chunk:
                break


def _is_dir(client: clientmod.Client, pod: Obj, volume: str, path: str) -> bool:
    from podhost.cli.errors import StatusError
    try:
        return listing(client, pod, volume, path)[0] == "directory"
    except StatusError:
        return False


def _put(client: clientmod.Client, pod: Obj, volume: str, path: str, data: bytes,
         query: dict[str, Any]) -> None:
    url = clientmod.with_query(volume_url(pod, volume, path), query)
    client.request("PUT", url, data, content_type="application/octet-stream")


# ---- podhost cp without tar in the container ---------------------------------------------

def volume_of(pod: Obj, container: str, path: str) -> tuple[str, str] | None:
    """The volume (and path inside it) that holds `path` in `container`: the deepest
    volumeMount whose mountPath contains it (a subPath mount adds its subPath)."""
    spec = next((c for key in ("containers", "initContainers", "ephemeralContainers")
                 for c in pod["spec"].get(key) or [] if c.get("name") == container), None)
    best: tuple[int, str, str] | None = None
    clean = posixpath.normpath("/" + path)
    for vm in (spec or {}).get("volumeMounts") or []:
        mount = posixpath.normpath("/" + vm.get("mountPath", ""))
        if clean != mount and not clean.startswith(mount.rstrip("/") + "/"):
            continue
        rel = posixpath.relpath(clean, mount)
        rel = "" if rel == "." else rel
        inside = posixpath.join(vm.get("subPath") or "", rel).strip("/")
        if best is None or len(mount) > best[0]:
            best = (len(mount), vm["name"], inside)
    return (best[1], best[2]) if best else None
