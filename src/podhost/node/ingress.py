"""The built-in ingress controller: the node watches Ingresses, IngressClasses, Services,
EndpointSlices and Secrets through the ObjectStore and, after each burst of changes, renders
the proxy's whole configuration from them (`build_model`, pure) and hands it to HAProxy
(`network/haproxy.py`), which reloads without dropping a connection. It serves the Ingresses
of the class `podhost` (controller `podhost.io/ingress-controller`), sends requests to the
ready endpoints of the Services they name (Pod IPs on the node's bridge), terminates TLS with
the `kubernetes.io/tls` Secrets they name (selected by SNI), and writes
`status.loadBalancer.ingress`. The proxy is watched too: a master that dies is started again.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

from podhost.api import endpoints as eps
from podhost.api import errors
from podhost.api import ingress as ingressapi
from podhost.api.storage import ApiClient, mirror
from podhost.api.types import Obj
from podhost.network import NetworkError
from podhost.network.haproxy import ProxyProcess
from podhost.network.ingress import (
    Backend,
    Cert,
    ConfigError,
    ProxyModel,
    Route,
    Server,
    render,
    render_crt_list,
)

log = logging.getLogger(__name__)

Key = tuple[str, str]
RESOURCES = ("ingresses", "ingressclasses", "services", "endpointslices", "secrets")
DEBOUNCE_SECONDS = 0.05
SUPERVISE_SECONDS = 1.0


def _key(obj: Obj) -> Key:
    m = obj["metadata"]
    return m.get("namespace") or "", m["name"]


@dataclass
class Objects:
    """The watched objects, by (namespace, name)."""
    ingresses: dict[Key, Obj]
    classes: dict[Key, Obj]
    services: dict[Key, Obj]
    slices: dict[Key, Obj]
    secrets: dict[Key, Obj]

    @classmethod
    def empty(cls) -> Objects:
        return cls({}, {}, {}, {}, {})

    def cache(self, resource: str) -> dict[Key, Obj]:
        return {"ingresses": self.ingresses, "ingressclasses": self.classes,
                "services": self.services, "endpointslices": self.slices,
                "secrets": self.secrets}[resource]


def served_ingresses(objs: Objects) -> list[Obj]:
    """The Ingresses of this controller, oldest first (the oldest wins a conflict)."""
    classes = list(objs.classes.values())
    mine = [i for i in objs.ingresses.values() if ingressapi.served_by(i, classes)
            and not i["metadata"].get("deletionTimestamp")]
    return sorted(mine, key=lambda i: (str(i["metadata"].get("creationTimestamp") or ""),
                                       _key(i)))


def resolve_backend(ns: str, backend: Obj, objs: Objects) -> Backend | None:
    """The ready endpoints of the Service port `backend` names (None: not a Service)."""
    ref = backend.get("service")
    if not isinstance(ref, dict):
        return None
    name, port = str(ref.get("name") or ""), ref.get("port") or {}
    wanted = port.get("number") or port.get("name") or ""
    backend_name = f"{ns}_{name}_{wanted}"
    svc = objs.services.get((ns, name))
    spec = (svc or {}).get("spec") or {}
    svc_port = next((p for p in spec.get("ports") or []
                     if (port.get("number") and p.get("port") == port["number"])
                     or (port.get("name") and p.get("name") == port["name"])), None)
    if svc is None or svc_port is None or spec.get("type") == "ExternalName":
        return Backend(backend_name, ())
    slices = [s for (s_ns, _), s in objs.slices.items() if s_ns == ns and
              (s["metadata"].get("labels") or {}).get(eps.SERVICE_NAME_LABEL) == name]
    pairs = eps.slice_backends(slices, svc_port.get("name") or "",
                               svc_port.get("protocol") or "TCP")
    return Backend(backend_name, tuple(sorted(Server(e.ip, p) for e, p in pairs if e.ready)))


def tls_pem(secret: Obj | None) -> bytes | None:
    """Certificate and key of a `kubernetes.io/tls` Secret, or None when it has no usable
    pair (nothing of the content is ever logged)."""
    if not secret or secret.get("type") != "kubernetes.io/tls":
        return None
    data = secret.get("data") or {}
    try:
        crt, key = base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"])
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        x509.load_pem_x509_certificate(crt)
        load_pem_private_key(key, None)
    except (KeyError, ValueError, TypeError):
        return None
    return crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n"


def _rules(ing: Obj, objs: Objects, routes: list[Route], backends: dict[str, Backend]) -> None:
    ns = ing["metadata"].get("namespace") or ""
    for rule in (ing.get("spec") or {}).get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            backend = resolve_backend(ns, p.get("backend") or {}, objs)
            if backend is None:
                continue  # resource backends name no Service: nothing to proxy to
            backends[backend.name] = backend
            routes.append(Route(rule.get("host") or "", p.get("path") or "/",
                                p.get("pathType") == "Exact", backend.name))


def build_model(objs: Objects, address: str, http_port: int, https_port: int
                ) -> tuple[ProxyModel, dict[str, bytes]]:
    """The proxy's model and the certificate files it names (pure)."""
    routes: list[Route] = []
    backends: dict[str, Backend] = {}
    certs: list[Cert] = []
    files: dict[str, bytes] = {}
    default = ""
    for ing in served_ingresses(objs):
        ns = ing["metadata"].get("namespace") or ""
        spec = ing.get("spec") or {}
        _rules(ing, objs, routes, backends)
        if spec.get("defaultBackend") and not default:
            backend = resolve_backend(ns, spec["defaultBackend"], objs)
            if backend is not None:
                backends[backend.name], default = backend, backend.name
        for tls in spec.get("tls") or []:
            secret = str(tls.get("secretName") or "")
            pem = tls_pem(objs.secrets.get((ns, secret))) if secret else None
            if pem is None:
                continue
            files[f"{ns}_{secret}.pem"] = pem
            certs.append(Cert(f"{ns}_{secret}.pem", tuple(tls.get("hosts") or ())))
    model = ProxyModel(address, http_port, https_port, tuple(routes),
                       tuple(backends.values()), default, tuple(certs))
    return model, files


def wanted_status(ing: Obj, ip: str) -> Obj:
    return {**(ing.get("status") or {}), "loadBalancer": {"ingress": [{"ip": ip}]}}


class IngressController:
    """Keeps the node's ingress proxy in step with the API objects."""

    def __init__(self, store: ApiClient, proxy: ProxyProcess, address: str, http_port: int,
                 https_port: int, status_ip: str) -> None:
        self.store, self.proxy = store, proxy
        self.address, self.http_port, self.https_port = address, http_port, https_port
        self.status_ip = status_ip
        self.objects = Objects.empty()
        self._changed = asyncio.Event()
        self._applied: tuple[str, str, dict[str, bytes]] | None = None
        self.synced = asyncio.Event()  # set after each sync (tests)
        self.reloads = 0
        self._retry = 1.0  # seconds before trying a failed configuration again (doubles)
        self._lock = threading.Lock()  # one apply at a time; none after close()
        self._closed = False

    async def run(self) -> None:
        await asyncio.to_thread(self.proxy.prepare)
        if self.proxy.adopt():
            log.info("ingress proxy: adopted haproxy (pid %d)", self.proxy.pid)
        watchers = [asyncio.ensure_future(self._watch(r)) for r in RESOURCES]
        try:
            while True:
                with_change = await _wait(self._changed, SUPERVISE_SECONDS)
                if with_change:
                    await asyncio.sleep(DEBOUNCE_SECONDS)  # coalesce a burst of events
                    self._changed.clear()
                    await self.sync()
                elif self._applied is not None and not self.proxy.alive():
                    log.warning("ingress proxy: haproxy (pid %d) is gone; starting it again",
                                self.proxy.pid)
                    self._applied = None
                    await self.sync()
        finally:
            for task in watchers:
                task.cancel()

    async def _watch(self, resource: str) -> None:
        await mirror(self.store, resource, self.objects.cache(resource), self._changed)

    async def sync(self) -> None:
        model, files = build_model(self.objects, self.address, self.http_port, self.https_port)
        try:
            config = render(model, self.proxy.files)
            crt_list = render_crt_list(model, self.proxy.files)
            if self._applied != (config, crt_list, files) or not self.proxy.alive():
                await asyncio.to_thread(self._apply, config, crt_list, files)
                self._applied = (config, crt_list, files)
                self.reloads += 1
            self._retry = 1.0
        except (NetworkError, ConfigError, OSError) as e:
            log.warning("ingress proxy: cannot apply the configuration (again in %.0fs): %s",
                        self._retry, e)
            asyncio.get_running_loop().call_later(self._retry, self._changed.set)
            self._retry = min(self._retry * 2, 60.0)
        self._write_statuses()
        self.synced.set()

    def _apply(self, config: str, crt_list: str, files: dict[str, bytes]) -> None:
        with self._lock:
            if self._closed:  # an apply in a thread outlives the cancelled sync
                return
            self.proxy.write_certs(files)
            self.proxy.apply(config, crt_list)

    def _write_statuses(self) -> None:
        for ing in served_ingresses(self.objects):
            status = wanted_status(ing, self.status_ip)
            if ing.get("status") == status:
                continue
            new: dict[str, Any] = copy.deepcopy(ing)
            new["status"] = status
            try:
                self.store.update_status("ingresses", new,
                                         expected_rv=ing["metadata"].get("resourceVersion"))
            except (errors.ConflictError, errors.NotFoundError):
                pass  # the watch brings the newer object, and another sync

    def close(self) -> None:
        """Stop the proxy (the node stops): nothing of it is left listening."""
        with self._lock:
            self._closed = True
            self.proxy.stop()


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
