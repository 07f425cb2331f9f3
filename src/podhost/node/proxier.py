"""The node's kube-proxy and cluster DNS feed: Services and EndpointSlices are watched through
the ObjectStore, and every change (coalesced) rewrites the nftables Service table
(`network/services.py`) and the DNS records (`network/dns.py`) from the whole picture.

A Service port is served by its ready endpoints (kube-proxy falls back to serving, terminating
ones when none is ready); one without endpoints is rejected. Headless and ExternalName
Services have no ClusterIP and appear in DNS only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

from podhost.api import endpoints as eps
from podhost.api.storage import ObjectStore, mirror
from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.network.dns import DnsEndpoint, DnsPort, DnsServer, DnsService, Records
from podhost.network.services import ServicePort, ServiceTable

log = logging.getLogger(__name__)

Key = tuple[str, str]


def _key(obj: Obj) -> Key:
    m = obj["metadata"]
    return m.get("namespace") or "", m["name"]


def _slices_of(slices: dict[Key, Obj], ns: str, name: str) -> list[Obj]:
    return [s for (s_ns, _), s in slices.items() if s_ns == ns and
            (s["metadata"].get("labels") or {}).get(eps.SERVICE_NAME_LABEL) == name]


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def service_ports(services: list[Obj], slices: dict[Key, Obj]) -> list[ServicePort]:
    """What the data plane serves, from the Services and their slices (pure)."""
    out = []
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if ip in ("", "None") or spec.get("type") == "ExternalName":
            continue
        ns, name = _key(svc)
        mine = _slices_of(slices, ns, name)
        affinity = 0
        if spec.get("sessionAffinity") == "ClientIP":
            affinity = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                           .get("timeoutSeconds") or 10800)
        for p in spec.get("ports") or []:
            proto = p.get("protocol") or "TCP"
            backends = eps.slice_backends(mine, p.get("name") or "", proto)
            backends = [(e, port) for e, port in backends if _ipv4(e.ip)]
            ready = [(e.ip, port) for e, port in backends if e.ready]
            if not ready:
                ready = [(e.ip, port) for e, port in backends if e.serving and e.terminating]
            out.append(ServicePort(f"{ns}/{name}:{p.get('name') or ''}", ip, proto,
                                   int(p["port"]), int(p.get("nodePort") or 0), affinity,
                                   tuple(sorted(ready)), spec.get("type") == "LoadBalancer"))
    return out


def dns_services(services: list[Obj], slices: dict[Key, Obj]) -> list[DnsService]:
    out = []
    for svc in services:
        spec = svc.get("spec") or {}
        ns, name = _key(svc)
        ports = tuple(DnsPort(p.get("name") or "", p.get("protocol") or "TCP", int(p["port"]))
                      for p in spec.get("ports") or [])
        endpoints = tuple(DnsEndpoint(e.ip, e.hostname, e.ready)
                          for e in eps.slice_endpoints(_slices_of(slices, ns, name)))
        external = spec.get("externalName") or "" if spec.get("type") == "ExternalName" else ""
        out.append(DnsService(name, ns, spec.get("clusterIP") or "", external, ports, endpoints,
                              bool(spec.get("publishNotReadyAddresses"))))
    return out


class ServiceProxy:
    """Watches Services and EndpointSlices; keeps the Service table and DNS records."""

    def __init__(self, store: ObjectStore, table: ServiceTable | None,
                 dns: DnsServer | None = None) -> None:
        self.store, self.table, self.dns = store, table, dns
        self.services: dict[Key, Obj] = {}
        self.slices: dict[Key, Obj] = {}
        self._changed = asyncio.Event()
        self.synced = asyncio.Event()  # set after each sync (tests, benchmarks)
        self.last_sync_seconds = 0.0

    async def run(self) -> None:
        if self.table is not None:
            self.table.reset()
        watchers = [asyncio.ensure_future(self._watch("services", self.services)),
                    asyncio.ensure_future(self._watch("endpointslices", self.slices))]
        try:
            while True:
                await self._changed.wait()
                await asyncio.sleep(0.005)  # coalesce a burst of events
                self._changed.clear()
                self.sync()
        finally:
            for task in watchers:
                task.cancel()

    async def _watch(self, resource: str, cache: dict[Key, Obj]) -> None:
        await mirror(self.store, resource, cache, self._changed)

    def sync(self) -> None:
        start = time.monotonic()
        services = list(self.services.values())
        if self.dns is not None:
            self.dns.records = Records.build(dns_services(services, self.slices))
        if self.table is not None:
            try:
                self.table.apply(service_ports(services, self.slices))
            except NetworkError as e:
                log.warning("cannot sync the Service rules: %s", e)
                self._retry_later()
        self.last_sync_seconds = time.monotonic() - start
        self.synced.set()

    def _retry_later(self) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, self._changed.set)

    def remove(self) -> None:
        """At clean-up: the node's Service rules go."""
        if self.table is not None:
            self.table.forget()


def pod_service_env(store: ObjectStore, pod: Obj) -> dict[str, str]:
    """The Service variables kubelet gives the Pod's containers (KUBERNETES_SERVICE_HOST, and
    those of its namespace's Services unless enableServiceLinks is false)."""
    ns = pod["metadata"].get("namespace") or "default"
    try:
        default, _ = store.list("services", "default")
        mine = default if ns == "default" else store.list("services", ns)[0]
    except Exception:  # the store is closing: no variables rather than no container
        return {}
    return eps.pod_service_env(pod, mine, default)
