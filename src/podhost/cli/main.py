"""Entry point: parse the command line lazily so every verb starts fast."""

from __future__ import annotations

import argparse
import sys

from podhost import __version__, config


def _root_arg(p: argparse.ArgumentParser, nested: bool = False) -> None:
    p.add_argument("--root", default=argparse.SUPPRESS if nested else None,
                   help=f"state directory (default $PODHOST_ROOT or {config.DEFAULT_ROOT})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podhost", description="Run Kubernetes Pods on one Linux machine.")
    parser.add_argument("--version", action="version", version=f"podhost {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the node in the foreground (API server + kubelet)")
    _root_arg(serve)
    serve.add_argument("--port", type=int, default=config.DEFAULT_PORT,
                       help="HTTPS port of the API server (default 6443)")
    serve.add_argument("--address", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--node-name", default=None, help="name of this node (default: hostname)")
    serve.add_argument("--no-kubeconfig-update", action="store_true",
                       help="do not merge the podhost context into $KUBECONFIG or ~/.kube/config")
    serve.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    kc = sub.add_parser("kubeconfig", help="print the kubeconfig of the local node")
    _root_arg(kc)

    images = sub.add_parser("images", help="manage images: load, ls, rm")
    _root_arg(images)
    isub = images.add_subparsers(dest="images_command", metavar="IMAGES_COMMAND")
    load = isub.add_parser("load", help="load images from an OCI or docker archive")
    load.add_argument("file", help="archive as `podman save` or `docker save` write it")
    ls = isub.add_parser("ls", help="list images")
    rm = isub.add_parser("rm", help="remove an image")
    rm.add_argument("image", nargs="+")
    for p in (load, ls, rm):
        _root_arg(p, nested=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from podhost.cli import serve
        return serve.run(args)
    if args.command == "kubeconfig":
        from podhost.cli import node
        return node.print_kubeconfig(args)
    if args.command == "images":
        from podhost.cli import images
        return images.run(args, parser)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
