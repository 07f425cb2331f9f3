"""The parsers of the everyday verbs (kubectl's flags); each verb's module is imported lazily."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from podhost.cli.context import add_connection_flags


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib
        return int(getattr(importlib.import_module(module), name)(args))
    return run


OBJECTS = "podhost.cli.verbs.objects"
PODS = "podhost.cli.verbs.pods"


def _verb(sub: Any, name: str, help: str, module: str, func: str,
          **kw: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help, **kw)
    add_connection_flags(p)
    p.set_defaults(run=lazy(module, func))
    return p


def _files(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("-f", "--filename", action="append", required=required,
                   help="file, directory or - (stdin) with the manifests")
    p.add_argument("-R", "--recursive", action="store_true",
                   help="process the directory given in -f recursively")


def _selectors(p: argparse.ArgumentParser) -> None:
    p.add_argument("-l", "--selector", help="label selector, e.g. app=demo")
    p.add_argument("--field-selector", help="field selector, e.g. metadata.name=x")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="list across all namespaces")


def add_verbs(sub: Any) -> None:
    for add in (_apply_create, _get, _describe, _logs, _exec, _cp, _volume, _delete, _wait,
                _events, _top, _port_forward, _rollout_scale, _dashboard):
        add(sub)


def _apply_create(sub: Any) -> None:
    p = _verb(sub, "apply", "apply a configuration by file name or stdin (client-side apply)",
              OBJECTS, "apply")
    _files(p)
    p.add_argument("--validate", default="strict", help="ignored: the server validates")
    p.add_argument("--server-side", action="store_true",
                   help="apply on the server (server-side apply, with field ownership)")
    p.add_argument("--force-conflicts", action="store_true",
                   help="with --server-side: take the fields other managers own")
    p.add_argument("--field-manager", default=None,
                   help="the field manager's name (default: kubectl)")
    p.add_argument("--wait", action="store_true",
                   help="follow each applied Pod (pulls, container states) until it runs")
    p.add_argument("--timeout", default="5m",
                   help="with --wait: how long to wait, e.g. 90s, 5m (default 5m)")
    p = _verb(sub, "create", "create objects from a file or stdin", OBJECTS, "create")
    _files(p)


def _get(sub: Any) -> None:
    p = _verb(sub, "get", "display one or many resources", OBJECTS, "get")
    p.add_argument("args", nargs="*", metavar="TYPE[/NAME] [NAME...]",
                   help="TYPE: any resource the server lists (`kubectl api-resources`: plural, "
                        "singular, short name, kind, `deployments.apps`), comma-separated, or "
                        "a category (`all`)")
    p.add_argument("-o", "--output", default="",
                   help="wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=SPEC")
    p.add_argument("-w", "--watch", action="store_true", help="watch for changes after listing")
    p.add_argument("--no-headers", action="store_true", help="do not print headers")
    p.add_argument("--show-labels", action="store_true", help="show labels as the last column")
    _selectors(p)


def _describe(sub: Any) -> None:
    p = _verb(sub, "describe", "show details of a resource, with its events",
              "podhost.cli.verbs.describe", "describe")
    p.add_argument("args", nargs="+", metavar="TYPE[/NAME] [NAME...]")
    _selectors(p)


def _logs(sub: Any) -> None:
    p = _verb(sub, "logs", "print the logs of a container in a pod", PODS, "logs")
    p.add_argument("pod", metavar="POD")
    p.add_argument("-c", "--container", help="container name (default: the default container)")
    p.add_argument("-f", "--follow", action="store_true", help="stream the logs")
    p.add_argument("-p", "--previous", action="store_true",
                   help="logs of the previous instance of the container")
    p.add_argument("--tail", type=int, default=None, help="lines of recent log to show")
    p.add_argument("--timestamps", action="store_true", help="prefix lines with timestamps")
    p.add_argument("--since", type=lambda s: int(_seconds(s)), default=None,
                   help="only logs newer than a duration, e.g. 5s, 2m")
    p.add_argument("--all-containers", action="store_true",
                   help="logs of all containers, each line prefixed [pod/P/C]")
    p.add_argument("--prefix", action="store_true", help="prefix lines with [pod/P/C]")


def _seconds(text: str) -> float:
    from podhost.cli.verbs.objects import parse_duration
    return parse_duration(text)


def _exec(sub: Any) -> None:
    p = _verb(sub, "exec", "execute a command in a container", PODS, "exec_",
              usage="podhost exec [-i] [-t] POD [-c CONTAINER] -- COMMAND [args...]")
    p.add_argument("pod", metavar="POD")
    p.add_argument("argv", nargs="*", metavar="COMMAND",
                   help="command and its arguments, after --")
    p.add_argument("-c", "--container", help="container name (default: the default container)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    p.add_argument("-q", "--quiet", action="store_true", help="only print the command's output")


def _cp(sub: Any) -> None:
    p = _verb(sub, "cp", "copy files to and from containers ([ns/]pod:path)", PODS, "cp")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p.add_argument("-c", "--container", help="container name (default: the default container)")


def _volume(sub: Any) -> None:
    p = sub.add_parser("volume", help="read and write a pod's volumes from the node (no shell, "
                       "cat or tar needed in the containers)",
                       description="read and write a pod's volumes from the node")
    verbs = p.add_subparsers(dest="volume_verb", metavar="ls|cat|cp", required=True)
    module = "podhost.cli.verbs.volume"
    ls = _verb(verbs, "ls", "list the pod's volumes, or a directory of one", module, "ls",
               usage="podhost volume ls POD [VOLUME[/PATH]]")
    ls.add_argument("pod", metavar="POD")
    ls.add_argument("target", nargs="?", metavar="VOLUME[/PATH]")
    cat = _verb(verbs, "cat", "print a file of a pod's volume", module, "cat",
                usage="podhost volume cat POD VOLUME/PATH")
    cat.add_argument("pod", metavar="POD")
    cat.add_argument("target", metavar="VOLUME/PATH")
    cp = _verb(verbs, "cp", "copy files and directories to and from a pod's volume "
               "([ns/]POD:VOLUME/PATH)", module, "cp",
               usage="podhost volume cp SRC DEST (one of them [ns/]POD:VOLUME/PATH)")
    cp.add_argument("src", metavar="SRC")
    cp.add_argument("dest", metavar="DEST")


def _delete(sub: Any) -> None:
    p = _verb(sub, "delete", "delete resources by name, file or selector", OBJECTS, "delete")
    p.add_argument("args", nargs="*", metavar="TYPE[/NAME] [NAME...]")
    _files(p)
    _selectors(p)
    p.add_argument("--all", action="store_true", help="delete all resources of the type")
    p.add_argument("--grace-period", type=int, default=None,
                   help="seconds given to the resource to terminate gracefully")
    p.add_argument("--force", action="store_true", help="delete immediately")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--wait", type=_bool, nargs="?", const=True, default=True,
                   help="wait until the resources are gone (default true)")
    p.add_argument("--timeout", default="", help="how long to wait, e.g. 60s (default forever)")


def _bool(text: str) -> bool:
    return text.lower() in ("true", "1", "yes")


def _wait(sub: Any) -> None:
    p = _verb(sub, "wait", "wait for a condition on resources", OBJECTS, "wait")
    p.add_argument("args", nargs="+", metavar="TYPE[/NAME] [NAME...]")
    p.add_argument("--for", dest="for_", default="",
                   help="condition=Ready[=value], delete or jsonpath={.path}=value")
    p.add_argument("--timeout", default="30s", help="how long to wait (default 30s)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help=argparse.SUPPRESS)


def _events(sub: Any) -> None:
    p = _verb(sub, "events", "list events", OBJECTS, "events")
    p.add_argument("--for", dest="for_", default="", help="only events of this object (pod/x)")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="events of all namespaces")


def _top(sub: Any) -> None:
    p = _verb(sub, "top", "display CPU and memory of pods or nodes (metrics.k8s.io)",
              "podhost.cli.verbs.top", "top")
    kinds = p.add_subparsers(dest="top_resource", metavar="RESOURCE")
    pod = kinds.add_parser("pod", aliases=["pods", "po"], help="CPU and memory of pods",
                           description="CPU and memory of pods")
    add_connection_flags(pod)
    pod.add_argument("name", nargs="?", metavar="NAME")
    _selectors(pod)
    pod.add_argument("--containers", action="store_true", help="usage of each container")
    _top_flags(pod)
    node = kinds.add_parser("node", aliases=["nodes", "no"], help="CPU and memory of nodes",
                            description="CPU and memory of nodes")
    add_connection_flags(node)
    node.add_argument("name", nargs="?", metavar="NAME")
    node.add_argument("-l", "--selector", help="label selector, e.g. type=big")
    node.add_argument("--show-capacity", action="store_true",
                      help="percentages of capacity rather than of allocatable")
    _top_flags(node)


def _top_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-headers", action="store_true", help="do not print headers")
    p.add_argument("--sort-by", choices=["cpu", "memory"], default="",
                   help="sort by cpu or memory, highest first")


def _port_forward(sub: Any) -> None:
    p = _verb(sub, "port-forward", "forward local ports to a pod",
              "podhost.cli.verbs.portforward", "port_forward",
              usage="podhost port-forward [pod/]NAME [LOCAL_PORT:]REMOTE_PORT [...]")
    p.add_argument("pod", metavar="[pod/]NAME")
    p.add_argument("ports", nargs="+", metavar="[LOCAL_PORT:]REMOTE_PORT")
    p.add_argument("--address", action="append",
                   help="addresses to listen on, comma separated (default 127.0.0.1)")


def _dashboard(sub: Any) -> None:
    p = _verb(sub, "dashboard", "serve a live page of the pods, their containers and the "
              "volumes they share (a local read-only proxy)", "podhost.cli.dashboard", "run")
    p.add_argument("--port", type=int, default=8001,
                   help="local port to serve on (default 8001; 0: any free port)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")


def _rollout_scale(sub: Any) -> None:
    rollout = "podhost.cli.verbs.rollout"
    p = _verb(sub, "rollout", "manage the rollout of a deployment, statefulset or daemonset",
              rollout, "rollout")
    p.add_argument("action", choices=["status", "history", "undo", "restart", "pause",
                                      "resume"])
    p.add_argument("target", metavar="TYPE/NAME")
    p.add_argument("--to-revision", type=int, default=0, help="undo: the revision to go to")
    p.add_argument("--timeout", type=float, default=0, help="status: seconds to wait (0: ever)")
    p = _verb(sub, "scale", "set the replicas of a deployment, replicaset or statefulset",
              rollout, "scale")
    p.add_argument("target", metavar="TYPE/NAME")
    p.add_argument("--replicas", type=int, required=True, help="the new number of replicas")
