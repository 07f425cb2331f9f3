"""`podhost serve`: the node in one foreground process (API server + kubelet)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from podhost import config
from podhost.cli import kubeconfig
from podhost.cli.localnode import root_of

if TYPE_CHECKING:
    from podhost.apiserver.pki import Pki
    from podhost.apiserver.tokens import TokenService
    from podhost.network.bridge import PodNetwork
    from podhost.network.dns import DnsServer
    from podhost.node.kubelet import Kubelet
    from podhost.node.policies import PolicyAgent
    from podhost.node.provisioner import LocalProvisioner
    from podhost.node.proxier import ServiceProxy
    from podhost.registry.generic import Registry
    from podhost.store.sqlite import Store

log = logging.getLogger("podhost")

def settings_from(args: argparse.Namespace) -> config.Settings:
    return config.Settings(root=root_of(args), host=args.address, port=args.port,
                           node_name=args.node_name or config.default_node_name(),
                           update_user_kubeconfig=not args.no_kubeconfig_update,
                           registries_conf=getattr(args, "registries_conf", None),
                           pod_cidr=getattr(args, "pod_cidr", None) or config.default_pod_cidr(),
                           service_cidr=getattr(args, "service_cidr", None)
                           or config.default_service_cidr(),
                           pod_security_default=getattr(args, "pod_security_default", None),
                           admission_config=getattr(args, "admission_control_config_file",
                                                    None))


def configure_pod_security(settings: config.Settings) -> None:
    """The PodSecurity plugin's configuration; a bad one stops the node before it starts."""
    from podhost.api import podsecurity
    from podhost.api.podsecurity import config as psconfig
    if settings.admission_config is not None and settings.pod_security_default is not None:
        raise psconfig.ConfigError("--pod-security-default and "
                                   "--admission-control-config-file are exclusive")
    if settings.admission_config is not None:
        podsecurity.configure(psconfig.from_file(settings.admission_config))
    elif settings.pod_security_default is not None:
        podsecurity.configure(psconfig.from_level(settings.pod_security_default))


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


def seed_namespaces(registry: Registry) -> None:
    from podhost.api import errors
    from podhost.registry.core.namespaces import SYSTEM_NAMESPACES
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(errors.AlreadyExistsError):
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            registry.create("namespaces", ns, None, manager="kube-apiserver")


def local_provisioner(settings: config.Settings, registry: Registry) -> LocalProvisioner:
    """The built-in StorageClasses (when missing) and the node's local provisioner."""
    from podhost.api import errors, volumeclaims
    from podhost.node.provisioner import LocalProvisioner
    from podhost.registry.client import Client
    from podhost.volumes.localpv import LocalPool
    for sc in volumeclaims.built_in_classes():
        with contextlib.suppress(errors.AlreadyExistsError):
            registry.create("storageclasses", sc, None, manager="podhost")
    return LocalProvisioner(Client(registry, "podhost-provisioner"), LocalPool(settings.root),
                            settings.node_name)


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


def start_controllers(registry: Registry, ca_bundle: str, node_address: str = "",
                      node_name: str = "") -> list[asyncio.Task[None]]:
    """kube-controller-manager's part: the namespace controller, the root CA publisher,
    the EndpointSlice controller, the workload controllers and the garbage collector; and the
    kubelet's node Lease."""
    from podhost.controllers.controller import MANAGER
    from podhost.controllers.endpointslice import EndpointSliceController
    from podhost.controllers.ephemeralvolume import EphemeralVolumeController
    from podhost.controllers.namespace import NamespaceController
    from podhost.controllers.persistentvolume import PersistentVolumeController
    from podhost.controllers.rootca import RootCAPublisher
    from podhost.controllers.workloads import workload_controllers
    from podhost.registry.client import Client
    store = Client(registry, MANAGER)
    controllers = (NamespaceController(store), RootCAPublisher(store, ca_bundle),
                   EndpointSliceController(store, node_address), *workload_controllers(store),
                   PersistentVolumeController(store), EphemeralVolumeController(store))
    tasks = [asyncio.ensure_future(c.run()) for c in controllers]
    if node_name:
        from podhost.controllers.nodelease import NodeLease
        tasks.append(asyncio.ensure_future(NodeLease(Client(registry, "kubelet"),
                                                     node_name).run()))
    return tasks


async def start_services(settings: config.Settings, registry: Registry,
                         network: PodNetwork | None, address: str
                         ) -> tuple[ServiceProxy, DnsServer | None, str]:
    """The service range, the `kubernetes` Service, and with a Pod network the cluster DNS
    (listening on the bridge's gateway, reached through the kube-dns Service) and the nftables
    Service table; returns the proxy to run and the DNS server."""
    from podhost.api import endpoints, errors, service
    from podhost.controllers import systemservices
    from podhost.network import dns
    from podhost.network.services import Layout, ServiceTable, bridge_netfilter, table_name
    from podhost.node.proxier import ServiceProxy
    from podhost.registry.client import Client
    from podhost.registry.core.services import SERVICE_CIDRS, service_cidr_object
    try:
        cidr = service.parse_cidr(settings.service_cidr)
    except ValueError as e:
        raise OSError(f"invalid --service-cidr: {e}") from None
    store = registry.store  # the range object is the store's own, never served
    with contextlib.suppress(errors.NotFoundError):
        store.delete(SERVICE_CIDRS, "", "kubernetes")
    store.create(SERVICE_CIDRS, service_cidr_object(str(cidr)))
    systems = [(endpoints.kubernetes_service(service.api_service_ip(cidr), settings.port),
                address, [{"name": "https", "port": settings.port, "protocol": "TCP"}])]
    server = table = None
    if network is not None:
        resolv = Path("/etc/resolv.conf").read_text() if Path("/etc/resolv.conf").exists() \
            else ""
        server = dns.DnsServer(network.gateway, 0, dns.host_nameservers(resolv))
        port = await server.start()
        log.info("cluster DNS at %s (kube-dns, served on %s:%d)", service.dns_service_ip(cidr),
                 network.gateway, port)
        systems.append((endpoints.dns_service(service.dns_service_ip(cidr)), network.gateway,
                        [{"name": "dns", "port": port, "protocol": "UDP"},
                         {"name": "dns-tcp", "port": port, "protocol": "TCP"}]))
        owner = str(settings.root.resolve())
        table = ServiceTable(Layout(table_name(owner), cidr, network.cidr, network.bridge,
                                    masquerade_all=not bridge_netfilter()), owner)
    for svc, backend, ports in systems:
        try:
            systemservices.ensure(Client(registry, "kube-apiserver"), svc, backend, ports)
        except errors.ApiError as e:
            log.warning("cannot keep Service %s: %s", svc["metadata"]["name"], e)
    cluster_dns = service.dns_service_ip(cidr) if server is not None else ""
    return ServiceProxy(store, table, server), server, cluster_dns


def policy_agent(settings: config.Settings, store: Store, network: PodNetwork | None,
                 kubelet: Kubelet) -> PolicyAgent | None:
    """With a Pod network, the NetworkPolicy agent: its table enforces what the store holds
    before any Pod starts, and each new Pod is covered before its containers start."""
    from podhost.network.policytable import PolicyTable
    from podhost.network.services import bridge_netfilter
    from podhost.node.policies import PolicyAgent
    if network is None:
        return None
    if not bridge_netfilter():
        log.warning("no bridge netfilter (br_netfilter): NetworkPolicies are not enforced "
                    "between two Pods of the bridge")
    workers = kubelet.workers

    def addresses() -> dict[str, str]:
        return {uid: w.pod_ip for uid, w in list(workers.items()) if w.pod_ip}
    agent = PolicyAgent(store, PolicyTable(str(settings.root.resolve())), addresses)
    agent.start()
    kubelet.sandboxes.on_network_change = agent.pod_network_changed
    return agent


def make_kubelet(settings: config.Settings, registry: Registry, network: PodNetwork | None,
                 address: str) -> Kubelet:
    """The kubelet's part, writing as `kubelet` through the registry."""
    from podhost.images.store import ImageStore
    from podhost.node.kubelet import Kubelet
    from podhost.registry.client import Client
    from podhost.runtime.runc import Runtime
    runtime = Runtime(settings.runtime_dir, runc=settings.runc, conmon=settings.conmon)
    return Kubelet(Client(registry, "kubelet"), runtime, ImageStore(settings.images_dir),
                   settings.root, node_name=settings.node_name,
                   registries_conf=settings.registries_conf, network=network, host_ip=address)


def api_service_names(settings: config.Settings) -> list[str]:
    """Extra names of the serving certificate: the `kubernetes` Service's ClusterIP and the
    node's address (Pods reach the API server through them)."""
    from podhost.api import service
    from podhost.network.bridge import node_ip
    names = [node_ip()]
    with contextlib.suppress(ValueError):
        names.append(service.api_service_ip(service.parse_cidr(settings.service_cidr)))
    return names


def open_store(settings: config.Settings, pki: Pki) -> tuple[Store, TokenService]:
    """The store (mode 0600, Secrets encrypted at rest) and the ServiceAccount token service;
    loose modes of the state files are fixed first (docs/security.md)."""
    from podhost import statefiles
    from podhost.apiserver import pki as pkimod
    from podhost.apiserver.tokens import TokenService
    from podhost.store.encryption import load_or_create
    from podhost.store.sqlite import Store
    for line in statefiles.fix(settings.root):
        log.warning("state path was open to other users, tightened: %s", line)
    statefiles.create_private(settings.db_path)
    store = Store(settings.db_path, load_or_create(pki.encryption_keys))
    statefiles.fix(settings.root)
    key = pkimod.ensure_service_account_key(pki)
    return store, TokenService(store, key, settings.server_url)


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
    from podhost.network.bridge import node_ip
    from podhost.registry.generic import Registry

    settings.root.mkdir(parents=True, exist_ok=True, mode=0o711)
    pki = pkimod.ensure_pki(settings.pki_dir, api_service_names(settings))
    store, tokens = open_store(settings, pki)
    registry = Registry(store, node_name=settings.node_name)
    seed_namespaces(registry)
    network = pod_network(settings)
    address = node_ip()
    kubelet = make_kubelet(settings, registry, network, address)
    api = apiapp.ApiServer(store, kubelet.streaming, token=pki.token(), registry=registry,
                           server_address=f"{settings.host}:{settings.port}", node_ip=address,
                           node_name=settings.node_name,
                           pod_cidr=str(network.cidr) if network else "", token_service=tokens)
    kubelet.volumes.tokens = tokens  # projected serviceAccountTokens, minted in-process
    controllers = start_controllers(registry, pki.ca_cert.read_text(), address,
                                    settings.node_name)
    proxy, dns_server, kubelet.volumes.cluster_dns = await start_services(settings, registry,
                                                                         network, address)
    policies = policy_agent(settings, store, network, kubelet)
    provisioner = local_provisioner(settings, registry)
    controllers += [asyncio.ensure_future(t.run()) for t in (proxy, policies, provisioner) if t]
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
    if dns_server is not None:
        dns_server.close()
    if not store.list("pods")[0]:  # `down --delete-pods`: nothing left to serve
        proxy.remove()
        policies.remove() if policies else None
        provisioner.pool.release()  # the volumes stay in the image, mounted again when used
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
    from podhost.api.podsecurity.config import ConfigError
    from podhost.images.errors import ImageError
    from podhost.images.registries import load_registries
    from podhost.network import NetworkError

    settings = settings_from(args)
    try:
        load_registries(settings.registries_conf)  # a bad file stops the node before it starts
        configure_pod_security(settings)
        asyncio.run(serve(settings))
    except (OSError, ImageError, NetworkError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
