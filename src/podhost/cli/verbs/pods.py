"""Verbs on running Pods: logs, exec, cp (tar over exec; through the node's volume access when
the container has no tar)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from podhost.api.types import Obj
from podhost.cli import client as clientmod
from podhost.cli.context import client_for, lookup
from podhost.cli.errors import CliError, StatusError
from podhost.cli.verbs import volume

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def pod_name(word: str) -> str:
    if "/" in word:
        kind, name = word.split("/", 1)
        if lookup(kind).plural != "pods":
            raise CliError(f"error: cannot attach to {kind}: not implemented")
        return name
    return word


def get_pod(client: clientmod.Client, ns: str, name: str) -> Obj:
    pod: Obj = client.get(clientmod.resource_path("pods", ns, name),
                          accept="application/json, */*")
    return pod


def default_container(pod: Obj, quiet: bool = False) -> str:
    """The annotated default container or the first one, announced as kubectl does."""
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    chosen = ((pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
              or (names[0] if names else ""))
    if len(names) > 1 and not quiet and chosen == names[0]:
        print(f"Defaulted container \"{chosen}\" out of: {', '.join(names)}", file=sys.stderr)
    return chosen


# ---- logs --------------------------------------------------------------------------------

def log_query(args: argparse.Namespace, container: str) -> dict[str, Any]:
    return {"container": container, "follow": args.follow, "previous": args.previous,
            "tailLines": args.tail if args.tail is not None and args.tail >= 0 else None,
            "timestamps": args.timestamps, "sinceSeconds": args.since}


def stream_log(client: clientmod.Client, ns: str, name: str, query: dict[str, Any],
               prefix: bytes, out: BinaryIO) -> None:
    path = clientmod.with_query(clientmod.resource_path("pods", ns, name, "log"), query)
    response = client.open("GET", path, accept="application/json, */*", timeout=None)
    if not prefix and not query.get("follow"):
        out.write(response.read())
        return
    for line in response:
        out.write(prefix + line)
        out.flush()


def logs(args: argparse.Namespace) -> int:
    client = client_for(args)
    ns, name = client.namespace, pod_name(args.pod)
    try:
        pod = get_pod(client, ns, name)
    except StatusError as e:
        if e.code_http == 404:
            raise CliError(f"error: error from server (NotFound): pods \"{name}\" not found in "
                           f"namespace \"{ns}\"") from e
        raise
    if args.all_containers:
        containers = [c["name"] for c in pod["spec"].get("initContainers") or []] + \
                     [c["name"] for c in pod["spec"]["containers"]]
    else:
        containers = [args.container or default_container(pod)]
    prefix = args.prefix or args.all_containers
    out = sys.stdout.buffer
    try:
        for c in containers:
            tag = f"[pod/{name}/{c}] ".encode() if prefix else b""
            stream_log(client, ns, name, log_query(args, c), tag, out)
    except KeyboardInterrupt:
        return 0
    out.flush()
    return 0


# ---- exec --------------------------------------------------------------------------------

def exec_path(ns: str, name: str, container: str, command: list[str], stdin: bool, tty: bool,
              stderr: bool = True) -> str:
    query = [("command", c) for c in command] + [("container", container)]
    query += [(k, "true") for k, on in (("stderr", stderr and not tty), ("stdin", stdin),
                                         ("stdout", True), ("tty", tty)) if on]
    return clientmod.with_query(clientmod.resource_path("pods", ns, name, "exec"), query)


def run_exec(client: clientmod.Client, ns: str, pod: Obj, container: str, command: list[str],
             stdin: BinaryIO | None, stdout: BinaryIO, stderr: BinaryIO,
             tty: bool = False) -> int:
    from podhost.cli import wsexec
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise CliError(f"error: cannot exec into a container in a completed pod; "
                       f"current phase is {phase}")
    session = wsexec.Session(client, exec_path(ns, pod["metadata"]["name"], container, command,
                                               stdin is not None, tty))
    ready = None
    if tty:
        def ready() -> None:
            session.send(wsexec.RESIZE, wsexec.resize_message(*wsexec.terminal_size())[1:])
    return wsexec.run(session, stdin, stdout, stderr, ready)


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def exec_(args: argparse.Namespace) -> int:
    argv = args.argv
    if not argv:
        raise CliError("error: you must specify at least one command for the container")
    client = client_for(args)
    ns, name = client.namespace, pod_name(args.pod)
    pod = get_pod(client, ns, name)
    container = args.container or default_container(pod, args.quiet)
    tty = args.tty and args.stdin and sys.stdin.isatty()
    if args.tty and not tty and not args.quiet:
        print("Unable to use a TTY - input is not a terminal or the right kind of file",
              file=sys.stderr)
    stdin = sys.stdin.buffer if args.stdin else None
    with (raw_terminal(sys.stdin.fileno()) if tty else contextlib.nullcontext()):
        code = run_exec(client, ns, pod, container, argv, stdin, sys.stdout.buffer,
                        sys.stderr.buffer, tty)
    if code:
        print(f"command terminated with exit code {code}", file=sys.stderr)
    return code


# ---- cp ----------------------------------------------------------------------------------

def split_remote(spec: str, default_ns: str) -> tuple[str, str, str] | None:
    """`[ns/]pod:path` → (ns, pod, path); a local path → None."""
    if ":" not in spec or spec.startswith(("/", ".")):
        return None
    target, path = spec.split(":", 1)
    ns, _, pod = target.rpartition("/")
    return ns or default_ns, pod, path


def tar_of(local: str, arcname: str) -> bytes:
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(local, arcname=arcname)
    return buf.getvalue()


def cp(args: argparse.Namespace) -> int:
    client = client_for(args)
    src, dst = (split_remote(s, client.namespace) for s in (args.src, args.dest))
    if dst is not None and src is None:
        return copy_to_pod(client, args, args.src, dst)
    if src is not None and dst is None:
        return copy_from_pod(client, args, src, args.dest)
    raise CliError("error: one of src or dest must be a local file specification")


def _pod_container(client: clientmod.Client, args: argparse.Namespace, ns: str,
                   name: str) -> tuple[Obj, str]:
    pod = get_pod(client, ns, name)
    return pod, args.container or default_container(pod)


def copy_to_pod(client: clientmod.Client, args: argparse.Namespace, local: str,
                remote: tuple[str, str, str]) -> int:
    ns, name, path = remote
    if not os.path.exists(local):
        raise CliError(f"error: {local} doesn't exist in local filesystem")
    pod, container = _pod_container(client, args, ns, name)
    directory, base = os.path.split(path.rstrip("/")) if not path.endswith("/") else \
        (path.rstrip("/"), os.path.basename(local.rstrip("/")))
    try:
        return _send_tar(client, ns, pod, container, directory, tar_of(local, base))
    except CliError as e:
        if not no_tar(e):
            raise
    vol, inside = _volume_path(pod, container, path)
    volume.upload(client, pod, vol, inside, local)
    return 0


def no_tar(e: CliError) -> bool:
    """The container has no `tar` (distroless, static binaries: kubernetes #58512)."""
    return 'exec: "tar": executable file not found' in str(e)


def _volume_path(pod: Obj, container: str, path: str) -> tuple[str, str]:
    """Where a container path is in the Pod's volumes, for the copy without `tar`."""
    found = volume.volume_of(pod, container, path)
    if found is None:
        raise CliError(f'error: container "{container}" has no tar, and {path} is not in one of '
                       "its volumes: without tar podhost copies only into and out of volumes "
                       "(podhost volume cp)")
    print(f'container "{container}" has no tar: copying through volume "{found[0]}"',
          file=sys.stderr)
    return found


def _send_tar(client: clientmod.Client, ns: str, pod: Obj, container: str, directory: str,
              data: bytes) -> int:
    import tempfile
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        err = io.BytesIO()
        code = run_exec(client, ns, pod, container,
                        ["tar", "-xmf", "-", "-C", directory or "/"], f, sys.stdout.buffer, err)
    return _tar_result(code, err.getvalue())


def _tar_result(code: int, err: bytes) -> int:
    if code:
        sys.stderr.write(err.decode(errors="replace"))
        print(f"command terminated with exit code {code}", file=sys.stderr)
    return code


def copy_from_pod(client: clientmod.Client, args: argparse.Namespace,
                  remote: tuple[str, str, str], local: str) -> int:
    import tarfile
    ns, name, path = remote
    pod, container = _pod_container(client, args, ns, name)
    directory, base = os.path.split(path.rstrip("/") or "/")
    out, err = io.BytesIO(), io.BytesIO()
    try:
        code = run_exec(client, ns, pod, container,
                        ["tar", "cf", "-", "-C", directory or "/", base], None, out, err)
    except CliError as e:
        if not no_tar(e):
            raise
        volume.download(client, pod, *_volume_path(pod, container, path), local)
        return 0
    if code:
        return _tar_result(code, err.getvalue())
    target = local
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        for member in tar.getmembers():
            rel = member.name[len(base):].lstrip("/")
            dest = os.path.join(target, rel) if rel else target
            if os.path.isdir(target) and not rel and member.isfile():
                dest = os.path.join(target, base)
            _extract(tar, member, dest)
    return 0


def _extract(tar: Any, member: Any, dest: str) -> None:
    if ".." in dest.split(os.sep):
        return
    if member.isdir():
        os.makedirs(dest, exist_ok=True)
    elif member.isfile():
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        with tar.extractfile(member) as src, open(dest, "wb") as f:
            f.write(src.read())
        os.chmod(dest, member.mode & 0o777)
