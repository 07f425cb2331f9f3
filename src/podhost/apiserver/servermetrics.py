"""The API server's own metrics on `/metrics`, under kube-apiserver's names and labels
(k8s.io/apiserver/pkg/endpoints/metrics/metrics.go), with the Prometheus client library and a
private registry per API server.

`ServerMetrics.instrument` wraps the dispatch of every request (apiserver/app.py): it classifies
the request as kube-apiserver's RequestInfo does (verb, group, version, resource, subresource,
scope, dry run), counts it in flight (`readOnly` or `mutating`; watches, exec, attach,
port-forward, logs and the node proxy as long-running instead), and when it ends counts
`apiserver_request_total` with its code and observes its duration (`_duration_seconds` and the
SLI, which are the same here: podhost has no webhooks or priority queues to subtract) and, for
GET and LIST, its size. A streamed answer (a watch, a log) ends when its last chunk is sent.
`apiserver_storage_objects` is counted in the store when scraped; `process_*` is the client
library's process collector; `workqueue_*` are the controllers' queues (controllers/queuemetrics).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podhost.api import registry as kinds
from podhost.apiserver.http import Request, Response, StreamResponse, Upgrade, UpgradeHandler
from podhost.controllers import queuemetrics
from podhost.store.sqlite import Store

disable_created_metrics()  # type: ignore[no-untyped-call]  # kube-apiserver has no `_created`

COMPONENT = "apiserver"
DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6,
                    8, 10, 15, 20, 30, 45, 60)
SLI_BUCKETS = DURATION_BUCKETS[2:]
SIZE_BUCKETS = tuple(1000.0 * 10**i for i in range(7))  # 1 KB … 1 GB
VERBS = frozenset({"APPLY", "CONNECT", "CREATE", "DELETE", "DELETECOLLECTION", "GET", "LIST",
                   "PATCH", "POST", "PROXY", "PUT", "UPDATE", "WATCH", "WATCHLIST"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
# the non-resource paths counted under their own path (others: subresource "")
NON_RESOURCE = re.compile(r"^/(api|apis|version|metrics|healthz|livez|readyz|openapi/v2|"
                          r"openapi/v3|\.well-known/openid-configuration|openid/v1/jwks)/?$")
RESOURCE = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/"
                      r"(?P<watch>watch/)?(?:namespaces/(?P<ns>[^/]+)/(?=.))?(?P<resource>[^/]+)"
                      r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?")
LABELS = ["verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"]
SLI_LABELS = [name for name in LABELS if name != "dry_run"]


@dataclass(frozen=True)
class RequestInfo:
    verb: str
    dry_run: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str
    long_running: bool
    mutating: bool

    def labels(self) -> list[str]:
        return [self.verb, self.dry_run, self.group, self.version, self.resource,
                self.subresource, self.scope, COMPONENT]

    def sli_labels(self) -> list[str]:
        return [self.verb, self.group, self.version, self.resource, self.subresource,
                self.scope, COMPONENT]


def _dry_run(request: Request) -> str:
    values = request.query.get("dryRun") or []
    if any(v != "All" for v in values):
        return "invalid"
    return ",".join(sorted(set(values)))


def _verb(request: Request, scope: str, watch: bool) -> str:
    """kube-apiserver's reported verb: LIST for a collection GET, WATCH, APPLY for an apply
    patch, `other` for a method it does not know."""
    verb = request.method.upper()
    if verb in ("GET", "HEAD"):
        verb = "LIST" if scope not in ("resource", "") else "GET"
        if watch or (request.arg("watch") or "").lower() not in ("", "0", "false"):
            verb = "WATCH"
    if verb == "PATCH" and request.headers.get("content-type", "").startswith(
            "application/apply-patch"):
        verb = "APPLY"
    return verb if verb in VERBS else "other"


def request_info(request: Request) -> RequestInfo:
    """What kube-apiserver's RequestInfoFactory and CleanScope make of a request."""
    m = RESOURCE.match(request.path)
    mutating = request.method.upper() not in ("GET", "HEAD", "OPTIONS")
    if m is None:
        path = request.path.rstrip("/") or "/"
        sub = path if NON_RESOURCE.match(request.path) else ""
        return RequestInfo(_verb(request, "", False), _dry_run(request), "", "", "", sub, "",
                           False, mutating)
    ns, resource, name, sub = m.group("ns", "resource", "name", "sub")
    if ns and resource in ("status", "finalize") and name is None:  # namespaces/NAME/status
        ns, resource, name, sub = ns, "namespaces", ns, resource
    if resource == "namespaces" and name and not ns:
        ns = name
    scope = "resource" if name or (request.method == "POST" and not sub) else \
        "namespace" if ns else "cluster"
    verb = _verb(request, scope, m.group("watch") is not None)
    long_running = verb == "WATCH" or (sub or "") in LONG_RUNNING_SUBRESOURCES
    return RequestInfo(verb, _dry_run(request), m.group("group") or "",
                       m.group("version") or "v1", resource, sub or "", scope, long_running,
                       mutating)


class _StorageObjects(Collector):
    """apiserver_storage_objects{resource}: how many objects each resource has in the store
    (`pods`, `deployments.apps`), counted when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "apiserver_storage_objects", "[STABLE] Number of stored objects at the time of last "
            "check split by kind. In case of a fetching error, the value will be -1.",
            labels=["resource"])
        for resource, count in sorted(self.store.counts().items()):
            kind = kinds.get(resource)
            group = kind.group if kind is not None else ""
            family.add_metric([f"{resource}.{group}" if group else resource], count)
        yield family


Answer = Response | StreamResponse | Upgrade


class ServerMetrics:
    def __init__(self, store: Store) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "apiserver_request", "[STABLE] Counter of apiserver requests broken out for each "
            "verb, dry run value, group, version, resource, scope, component, and HTTP response "
            "code.", [*LABELS, "code"], registry=r)
        self.duration = Histogram(
            "apiserver_request_duration_seconds", "[STABLE] Response latency distribution in "
            "seconds for each verb, dry run value, group, version, resource, subresource, scope "
            "and component.", LABELS, buckets=DURATION_BUCKETS, registry=r)
        self.sli = Histogram(
            "apiserver_request_sli_duration_seconds", "[ALPHA] Response latency distribution "
            "(not counting webhook duration and priority & fairness queue wait times) in seconds "
            "for each verb, group, version, resource, subresource, scope and component.",
            SLI_LABELS, buckets=SLI_BUCKETS, registry=r)
        self.sizes = Histogram(
            "apiserver_response_sizes", "[STABLE] Response size distribution in bytes for each "
            "group, version, verb, resource, subresource, scope and component.", SLI_LABELS,
            buckets=SIZE_BUCKETS, registry=r)
        self.inflight = Gauge(
            "apiserver_current_inflight_requests", "[STABLE] Maximal number of currently used "
            "inflight request limit of this apiserver per request kind in last second.",
            ["request_kind"], registry=r)
        self.long_running = Gauge(
            "apiserver_longrunning_requests", "[STABLE] Gauge of all active long-running "
            "apiserver requests broken out by verb, group, version, resource, scope and "
            "component. Not all requests are tracked this way.", SLI_LABELS, registry=r)
        self.current = {"readOnly": 0, "mutating": 0}
        self.peak = {"readOnly": (0, 0.0), "mutating": (0, 0.0)}  # (max, since when)
        for kind in self.current:
            self.inflight.labels(kind).set(0)
        r.register(_StorageObjects(store))
        r.register(queuemetrics.collector())
        ProcessCollector(registry=r)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    # -- in flight --------------------------------------------------------------------------
    def _count(self, kind: str, delta: int) -> None:
        """kube-apiserver's watermark: the highest number in flight over the last second."""
        now = time.monotonic()
        self.current[kind] += delta
        top, since = self.peak[kind]
        if now - since > 1.0:
            top, since = self.current[kind], now
        self.peak[kind] = (max(top, self.current[kind]), since)
        self.inflight.labels(kind).set(self.peak[kind][0])

    def _enter(self, info: RequestInfo) -> None:
        if info.long_running:
            self.long_running.labels(*info.sli_labels()).inc()
        else:
            self._count("mutating" if info.mutating else "readOnly", 1)

    def _leave(self, info: RequestInfo) -> None:
        if info.long_running:
            self.long_running.labels(*info.sli_labels()).dec()
        else:
            self._count("mutating" if info.mutating else "readOnly", -1)

    def _done(self, info: RequestInfo, code: int, size: int, started: float) -> None:
        self._leave(info)
        took = time.monotonic() - started
        self.requests.labels(*info.labels(), str(code)).inc()
        self.duration.labels(*info.labels()).observe(took)
        self.sli.labels(*info.sli_labels()).observe(took)
        if info.verb in ("GET", "LIST"):
            self.sizes.labels(*info.sli_labels()).observe(size)

    # -- the hook -----------------------------------------------------------------------------
    async def instrument(self, request: Request,
                         handler: Callable[[Request], Awaitable[Answer]]) -> Answer:
        """`handler(request)`, counted and timed."""
        info = request_info(request)
        started = time.monotonic()
        self._enter(info)
        try:
            answer = await handler(request)
        except BaseException:
            self._done(info, 500, 0, started)
            raise
        if isinstance(answer, Response):
            self._done(info, answer.status, len(answer.body), started)
        elif isinstance(answer, StreamResponse):
            answer.chunks = self._streamed(info, answer.status, answer.chunks, started)
        else:
            answer.handler = self._upgraded(info, answer.handler, started)
        return answer

    def _upgraded(self, info: RequestInfo, handler: UpgradeHandler,
                  started: float) -> UpgradeHandler:
        """An exec, attach or port-forward session: counted (101) when it ends."""
        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          head: bytes) -> None:
            try:
                await handler(reader, writer, head)
            finally:
                self._done(info, 101, 0, started)
        return session

    async def _streamed(self, info: RequestInfo, code: int, chunks: AsyncIterator[bytes],
                        started: float) -> AsyncIterator[bytes]:
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                yield chunk
        finally:
            self._done(info, code, size, started)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:  # a client gone: the stream under this one ends too
                await aclose()
