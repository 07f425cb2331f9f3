"""`podhost serve`: the node in one foreground process (API server + kubelet)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from podhost import config
from podhost.cli import kubeconfig
from podhost.cli.localnode import root_of

if TYPE_CHECKING:
    from podhost.apiserver.pki import Pki
    from podhost.network.bridge import PodNetwork
    from podhost.store.sqlite import Store

log = logging.getLogger("podhost")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def settings_from(args: argparse.Namespace) -> config.Settings:
    return config.Settings(root=root_of(args), host=args.address, port=args.port,
                           node_name=args.node_name or config.default_node_name(),
                           update_user_kubeconfig=not args.no_kubeconfig_update,
                           registries_conf=getattr(args, "registries_conf", None),
                           pod_cidr=getattr(args, "pod_cidr", None) or config.default_pod_cidr())


def pod_network(settings: config.Settings) -> PodNetwork | None:
    """The node's Pod network, made ready (bridge, gateway); None for loopback-only Pods."""
    from podhost.network.bridge import PodNetwork
    if settings.pod_cidr in ("", "none"):
        return None
    network = PodNetwork(settings.pod_cidr, str(settings.root.resolve()))
    network.ensure()
    log.info("Pod network %s on bridge %s (gateway %s)", network.cidr, network.bridge,
             network.gateway)
    return network


def seed_namespaces(store: Store) -> None:
    from podhost.api import errors, strategy
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(errors.AlreadyExistsError):
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            store.create("namespaces", strategy.prepare_for_create("namespaces", ns, None))


def write_kubeconfigs(settings: config.Settings, pki: Pki) -> None:
    ours = kubeconfig.build(settings.server_url, pki.ca_cert, pki.token(), pki.client_cert,
                            pki.client_key)
    kubeconfig.write_private(settings.kubeconfig_path, ours)
    if settings.update_user_kubeconfig:
        target = kubeconfig.user_kubeconfig_path()
        try:
            kubeconfig.merge_into(target, ours)
            log.info("merged context %r into %s and made it current", kubeconfig.CONTEXT,
                     target)
        except (OSError, ValueError) as e:
            log.warning("could not update %s: %s", target, e)


def start_controllers(store: Store, ca_bundle: str) -> list[asyncio.Task[None]]:
    """kube-controller-manager's part: the namespace controller and the root CA publisher."""
    from podhost.controllers.namespace import NamespaceController
    from podhost.controllers.rootca import RootCAPublisher
    controllers = (NamespaceController(store), RootCAPublisher(store, ca_bundle))
    return [asyncio.ensure_future(c.run()) for c in controllers]


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serve(settings: config.Settings) -> None:
    from podhost.apiserver import app as apiapp
    from podhost.apiserver import http
    from podhost.apiserver import pki as pkimod
    from podhost.images.store import ImageStore
    from podhost.network.bridge import node_ip
    from podhost.node.kubelet import Kubelet
    from podhost.runtime.runc import Runtime
    from podhost.store.sqlite import Store

    settings.root.mkdir(parents=True, exist_ok=True, mode=0o711)
    pki = pkimod.ensure_pki(settings.pki_dir)
    store = Store(settings.db_path)
    seed_namespaces(store)
    runtime = Runtime(settings.runtime_dir, runc=settings.runc, conmon=settings.conmon)
    network = pod_network(settings)
    address = node_ip()
    kubelet = Kubelet(store, runtime, ImageStore(settings.images_dir), settings.root,
                      node_name=settings.node_name, registries_conf=settings.registries_conf,
                      network=network, host_ip=address)
    api = apiapp.ApiServer(store, kubelet.streaming, token=pki.token(),
                           server_address=f"{settings.host}:{settings.port}", node_ip=address,
                           pod_cidr=str(network.cidr) if network else "")
    controllers = start_controllers(store, pki.ca_cert.read_text())
    server = await http.serve(settings.host, settings.port, api.handle, apiapp.too_large,
                              pkimod.server_context(pki))
    write_kubeconfigs(settings, pki)
    settings.pid_file.write_text(f"{os.getpid()}\n")
    log.info("podhost node %s serving on %s (root %s)", settings.node_name,
             settings.server_url, settings.root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node_task = asyncio.ensure_future(kubelet.run())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({node_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.close()
    await kubelet.drain()
    node_task.cancel()
    with contextlib.suppress(BaseException):
        await node_task
    await stop_tasks(controllers)
    failure = node_task.exception() if node_task.done() and not node_task.cancelled() else None
    if failure is not None:
        raise failure
    with contextlib.suppress(FileNotFoundError):
        settings.pid_file.unlink()
    store.close()
    log.info("podhost stopped; containers keep running and are adopted on the next start")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if os.geteuid() != 0:
        print("error: podhost serve must run as root (it mounts filesystems and runs runc)",
              file=sys.stderr)
        return 1
    from podhost.images.errors import ImageError
    from podhost.images.registries import load_registries
    from podhost.network import NetworkError

    settings = settings_from(args)
    try:
        load_registries(settings.registries_conf)  # a bad file stops the node before it starts
        asyncio.run(serve(settings))
    except (OSError, ImageError, NetworkError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
