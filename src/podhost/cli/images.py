"""`podhost images pull|load|ls|rm|prune`: the local image store."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from podhost.cli.localnode import root_of

BAR = 30


def add_parser(sub: Any, root_arg: Callable[..., None]) -> None:
    images = sub.add_parser("images", help="manage images: pull, push, load, ls, rm, prune")
    root_arg(images)
    isub = images.add_subparsers(dest="images_command", metavar="IMAGES_COMMAND")
    pull = isub.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("image", help='reference, e.g. "nginx" or "quay.io/x/y:1"')
    pull.add_argument("--registries-conf", type=Path, default=None,
                      help="registries.conf (default $PODHOST_REGISTRIES_CONF or "
                           "/etc/containers/registries.conf)")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    push = isub.add_parser("push", help="push an image to a registry")
    push.add_argument("image", help="the image in the store (name or ID)")
    push.add_argument("destination", nargs="?", default=None,
                      help="where to push, e.g. localhost:5000/app:dev (default: IMAGE)")
    push.add_argument("--registries-conf", type=Path, default=None,
                      help="registries.conf (for `insecure` and `blocked`)")
    for p in (pull, push):
        p.add_argument("--tls-verify", type=_flag, default=None,
                       metavar="BOOL", help="require verified HTTPS (default: yes, except for "
                       "registries on the loopback and those registries.conf marks insecure)")
    load = isub.add_parser("load", help="load images from an OCI or docker archive")
    load.add_argument("file", nargs="?", default="-",
                      help="archive as `podman save` or `docker save` write it, gzipped or "
                           "not; - or nothing reads it from stdin")
    ls = isub.add_parser("ls", help="list images")
    rm = isub.add_parser("rm", help="remove an image (refused while a container uses it)")
    rm.add_argument("image", nargs="+")
    prune = isub.add_parser("prune", help="remove images no container uses")
    prune.add_argument("--dangling", action="store_true", help="only untagged images")
    for p in (pull, push, load, ls, rm, prune):
        root_arg(p, nested=True)


def _flag(text: str) -> bool:
    value = {"true": True, "false": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}: true or false")
    return value


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _progress(out: TextIO) -> Any:
    from podhost.images.puller import PullProgress

    class Lines(PullProgress):
        """Plain lines: one when a layer starts, one when it completes."""

        def __init__(self) -> None:
            self.done: set[str] = set()

        def resolved(self, ref: str, source: str, layers: list[Any]) -> None:
            print(f"Pulling {ref} from {source}: {len(layers)} layer(s) to download", file=out)

        def layer(self, digest: str, done: int, total: int) -> None:
            if done >= total and digest not in self.done:
                self.done.add(digest)
                print(f"{digest[7:19]}: downloaded {_size(total)}", file=out)

        def unpacking(self) -> None:
            print("Unpacking layers", file=out)

    class Bars(Lines):
        """One bar per layer, redrawn in place on a terminal."""

        def __init__(self) -> None:
            super().__init__()
            self.state: dict[str, tuple[int, int]] = {}
            self.drawn = 0
            self.last = 0.0

        def resolved(self, ref: str, source: str, layers: list[Any]) -> None:
            super().resolved(ref, source, layers)
            self.state = {d.digest: (0, d.size) for d in layers}

        def layer(self, digest: str, done: int, total: int) -> None:
            self.state[digest] = (done, total)
            now = time.monotonic()
            if now - self.last > 0.1 or done >= total:
                self.last = now
                self.draw()

        def draw(self) -> None:
            if self.drawn:
                out.write(f"\x1b[{self.drawn}A")
            for digest, (done, total) in self.state.items():
                filled = int(BAR * done / total) if total > 0 else BAR
                out.write(f"\r{digest[7:19]} [{'#' * filled}{'.' * (BAR - filled)}] "
                          f"{_size(done):>9} / {_size(total):<9}\x1b[K\n")
            self.drawn = len(self.state)
            out.flush()

    return Bars() if out.isatty() else Lines()


def pull(args: argparse.Namespace, store: Any) -> int:
    from podhost.images.auth import load_auth
    from podhost.images.puller import pull_image
    from podhost.images.registries import load_registries

    start = time.monotonic()
    progress = None if args.quiet else _progress(sys.stdout)
    import asyncio  # lazy: keeps `podhost --help` and the verbs' start-up fast
    image = asyncio.run(pull_image(store, args.image, load_registries(args.registries_conf),
                                   load_auth(), progress, tls_verify=args.tls_verify))
    if args.quiet:
        print(image.id)
        return 0
    print(f"Digest: {image.repo_digests[0].split('@')[1] if image.repo_digests else image.id}")
    print(f"Pulled {', '.join(image.repo_tags) or image.id}: {_size(image.size)} in "
          f"{time.monotonic() - start:.1f}s")
    return 0


def load(args: argparse.Namespace, store: Any) -> int:
    start = time.monotonic()
    if args.file == "-":
        loaded = _load_stdin(store)
    else:
        loaded = store.load_archive(args.file)
    for image in loaded:
        print(f"Loaded image: {', '.join(image.repo_tags) or image.id}")
    total = sum(i.size for i in loaded)
    print(f"Loaded {len(loaded)} image(s), {_size(total)} in {time.monotonic() - start:.1f}s")
    return 0


def _load_stdin(store: Any) -> list[Any]:
    """`docker save app | podhost images load -`: the archive is read from stdin into a file
    next to the store (tar needs random access), loaded, and deleted."""
    import shutil
    import tempfile

    from podhost.images.errors import ArchiveError

    if sys.stdin.isatty():
        raise ArchiveError("requested load from stdin, but stdin is a terminal: "
                           "pipe an archive in (docker save IMAGE | podhost images load -)")
    with tempfile.NamedTemporaryFile(prefix="load-", suffix=".tar", dir=store.root) as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
        if spool.tell() == 0:
            raise ArchiveError("requested load from stdin, but stdin is empty")
        return list(store.load_archive(spool.name))


def push(args: argparse.Namespace, store: Any) -> int:
    import asyncio

    from podhost.images.auth import load_auth
    from podhost.images.pusher import push_image
    from podhost.images.registries import load_registries

    start = time.monotonic()
    result = asyncio.run(push_image(store, args.image, args.destination,
                                    load_registries(args.registries_conf), load_auth(),
                                    tls_verify=args.tls_verify, say=print))
    print(f"Pushed {result.destination}: {result.uploaded} blob(s) sent, {result.skipped} "
          f"already there, in {time.monotonic() - start:.1f}s")
    print(f"Digest: {result.digest}")
    return 0


def ls(args: argparse.Namespace, store: Any) -> int:
    print(f"{'IMAGE':<50} {'ID':<14} {'SIZE':>10}")
    for image in store.list():
        for name in image.repo_tags or ["<none>"]:
            print(f"{name:<50} {image.id.split(':')[-1][:12]:<14} {_size(image.size):>10}")
    return 0


def rm(args: argparse.Namespace, store: Any) -> int:
    from podhost.images.inuse import in_use_ids

    busy = in_use_ids(store)
    for ref in args.image:
        removal = store.remove(ref, busy)
        for name in removal.untagged:
            print(f"Untagged: {name}")
        if removal.deleted:
            print(f"Deleted: {removal.deleted} ({_size(removal.freed)} freed)")
    return 0


def prune(args: argparse.Namespace, store: Any) -> int:
    from podhost.images.inuse import in_use_ids

    freed = store.prune(in_use_ids(store), dangling_only=args.dangling)
    print(f"Total reclaimed space: {_size(freed)}")
    return 0


COMMANDS = {"pull": pull, "push": push, "load": load, "ls": ls, "rm": rm, "prune": prune}


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from podhost.images.errors import ImageError
    from podhost.images.store import ImageStore

    command = COMMANDS.get(args.images_command or "")
    if command is None:
        parser.parse_args(["images", "--help"])
        return 2
    try:
        return command(args, ImageStore(root_of(args) / "images"))
    except (ImageError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was added; partial downloads resume next time",
              file=sys.stderr)
        return 130
