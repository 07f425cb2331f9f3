"""Entry point: parse the command line lazily so every verb starts fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from podhost import __version__, config


def _root_arg(p: argparse.ArgumentParser, nested: bool = False) -> None:
    p.add_argument("--root", default=argparse.SUPPRESS if nested else None,
                   help=f"state directory (default $PODHOST_ROOT or {config.DEFAULT_ROOT})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podhost", description="Run Kubernetes Pods on one Linux machine.")
    parser.add_argument("--version", action="version", version=f"podhost {__version__}")
    for flags, help in ((("--kubeconfig",), "path to the kubeconfig file to use"),
                        (("--context",), "the name of the kubeconfig context to use"),
                        (("-n", "--namespace"), "the namespace scope for this request")):
        parser.add_argument(*flags, default=argparse.SUPPRESS, help=help)
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
    serve.add_argument("--registries-conf", type=Path, default=None,
                       help="registries.conf (v2) with mirrors, insecure and blocked registries "
                            "(default $PODHOST_REGISTRIES_CONF or /etc/containers/registries.conf)")
    _pod_cidr_arg(serve)
    _admission_args(serve)
    serve.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    kc = sub.add_parser("kubeconfig", help="print the kubeconfig of the local node (or, with "
                        "--user, a new one for a user with a certificate of the node's CA)")
    _root_arg(kc)
    kc.add_argument("--user", default=None,
                    help="user name (the certificate's CN), as `kubeadm kubeconfig user`")
    kc.add_argument("--group", action="append", default=[],
                    help="group of the user (the certificate's O); may be repeated")
    kc.add_argument("--validity-days", type=int, default=365,
                    help="how long the user's certificate is valid (default 365)")

    from podhost.cli import images as images_cli
    images_cli.add_parser(sub, _root_arg)
    add_node_verbs(sub)
    from podhost.cli import parser as verbs
    verbs.add_verbs(sub)
    return parser


def _pod_cidr_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pod-cidr", default=None,
                        help="IPv4 range of Pod addresses on the bridge podhost0 (default "
                             "$PODHOST_POD_CIDR or 10.244.0.0/16); `none`: loopback-only Pods")
    parser.add_argument("--service-cidr", default=None,
                        help="IPv4 range of Service ClusterIPs (default $PODHOST_SERVICE_CIDR or "
                             "10.96.0.0/12; the cluster DNS is its tenth address)")


def _admission_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pod-security-default", default=None, metavar="LEVEL",
                        choices=["privileged", "baseline", "restricted"],
                        help="PodSecurity level (enforce, audit and warn) of namespaces without "
                             "pod-security.kubernetes.io labels (default privileged)")
    parser.add_argument("--admission-control-config-file", type=Path, default=None,
                        metavar="FILE",
                        help="AdmissionConfiguration file: the PodSecurity plugin's defaults "
                             "and exemptions (PodSecurityConfiguration v1)")


def add_node_verbs(sub: Any) -> None:
    up = sub.add_parser("up", help="start the node in the background and wait until ready")
    _root_arg(up)
    up.add_argument("--port", type=int, default=config.DEFAULT_PORT,
                    help="HTTPS port of the API server (default 6443)")
    up.add_argument("--address", default="127.0.0.1", help="address to listen on")
    up.add_argument("--node-name", default=None, help="name of this node (default: hostname)")
    _pod_cidr_arg(up)
    _admission_args(up)
    up.add_argument("--no-kubeconfig-update", action="store_true",
                    help="do not merge the podhost context into $KUBECONFIG or ~/.kube/config")
    down = sub.add_parser("down", help="stop the background node (pid file <root>/podhost.pid)")
    _root_arg(down)
    down.add_argument("--delete-pods", action="store_true",
                      help="delete all Pods first and wait until they are gone")
    down.add_argument("--timeout", type=float, default=60, help="seconds to wait for the stop")
    status = sub.add_parser("status", help="versions, paths, health, Pods and images of the node")
    _root_arg(status)
    doctor = sub.add_parser("doctor", help="check the kernel and tools podhost needs")
    _root_arg(doctor)
    comp = sub.add_parser("completion", help="print a shell completion script")
    comp.add_argument("shell", choices=["bash"], help="the shell (bash)")


NODE_VERBS = {"up": "up", "down": "down", "status": "status", "doctor": "doctor",
              "kubeconfig": "print_kubeconfig"}


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "serve":
        from podhost.cli import serve
        return serve.run(args)
    if args.command in NODE_VERBS:
        from podhost.cli import node
        return int(getattr(node, NODE_VERBS[args.command])(args))
    if args.command == "images":
        from podhost.cli import images
        return images.run(args, parser)
    if args.command == "completion":
        from podhost.cli import completion
        sys.stdout.write(completion.bash(parser))
        return 0
    if getattr(args, "run", None):
        return int(args.run(args))
    parser.print_help(sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    tail = None
    if "--" in argv:  # kubectl's `exec POD [flags] -- COMMAND...`: flags end at --
        argv, tail = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = parser.parse_args(argv)
    if tail is not None:
        if not hasattr(args, "argv"):
            parser.error(f"unrecognized arguments: -- {' '.join(tail)}")
        args.argv = list(args.argv) + tail
    from podhost.cli.errors import CliError
    try:
        return dispatch(args, parser)
    except CliError as e:
        print(e.render(), file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
