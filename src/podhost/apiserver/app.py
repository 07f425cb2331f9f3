"""Routing, authentication and the single place where errors become metav1.Status."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

from podhost import config
from podhost.api import errors, ingress, registry
from podhost.api.apiextensions import strategy as custom_resources
from podhost.api.nodeapi import NodeBackend
from podhost.apiserver import (
    admission,
    attach,
    crds,
    discovery,
    eventsv1,
    hpav1,
    identity,
    limits,
    logs,
    metrics,
    nodeproxy,
    objects,
    portforward,
    resources,
    reviews,
    servermetrics,
    tokens,
    volumes,
    webhooks,
)
from podhost.apiserver import exec as exec_
from podhost.apiserver.http import MAX_BODY, Request, Response, StreamResponse, Upgrade
from podhost.registry import generic, podsecurity
from podhost.registry.core import namespaces
from podhost.store.sqlite import Store

log = logging.getLogger(__name__)

ANONYMOUS_PATHS = re.compile(r"^/(healthz|livez|readyz|version)(/.*)?$")
RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[a-z0-9]+))/"
    r"(?:namespaces/(?P<ns>[^/]+)/(?=[a-z]))?(?P<resource>[a-z]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?/?$")


# the node's streaming subresources: (resource, subresource) -> handler
STREAMING: dict[tuple[str, str], Any] = {
    ("pods", "exec"): exec_.handle, ("pods", "attach"): attach.handle,
    ("pods", "portforward"): portforward.handle, ("pods", "log"): logs.handle}
# writes after which ClusterRole aggregation runs again
AGGREGATING = {("clusterroles", m) for m in ("POST", "PUT", "PATCH", "DELETE")}


def json_response(obj: Any, status: int = 200,
                  headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON answer ending in a newline, as the API server's json.Encoder writes it."""
    return Response(status, json.dumps(obj, separators=(",", ":")).encode() + b"\n",
                    headers=headers or [])


def status_response(err: errors.ApiError) -> Response:
    retry = [("Retry-After", str(err.retry_after))] \
        if isinstance(err, errors.TooManyRequestsError) and err.retry_after > 0 else []
    return json_response(err.to_status(), err.code, retry)


def with_warnings(request: Request, answer: Response | StreamResponse | Upgrade
                  ) -> Response | StreamResponse | Upgrade:
    """Admission's warnings (PodSecurity's) as `Warning: 299 - "…"` headers."""
    if request.warnings and isinstance(answer, (Response, StreamResponse)):
        answer.headers = [*answer.headers,
                          *(("Warning", "299 - " + json.dumps(w)) for w in request.warnings)]
    return answer


def too_large() -> Response:
    return status_response(errors.RequestTooLargeError(
        f"Request entity too large: limit is {MAX_BODY}"))


class ApiServer:
    """The Kubernetes API for podhost's resources over a Store and a NodeBackend."""

    def __init__(self, store: Store, node: NodeBackend, *, token: str,
                 server_address: str = "127.0.0.1:6443", node_name: str | None = None,
                 node_facts: objects.NodeFacts | None = None,
                 node_ip: str = "127.0.0.1", pod_cidr: str = "",
                 token_service: tokens.TokenService | None = None,
                 registry: generic.Registry | None = None) -> None:
        self.store, self.node = store, node
        self.token = token
        self.server_address = server_address
        self.node_name = node_name or getattr(node, "node_name", None) or \
            config.default_node_name()
        self.tokens = token_service or tokens.TokenService(
            store, tokens.ephemeral_key(), f"https://{server_address}")
        self.identity = identity.Identity(store, token, self.tokens)
        self.registry = registry or generic.Registry(store, node_name=self.node_name)
        self.registry.authorizer = self.identity
        if not any(isinstance(p, podsecurity.PodSecurity) for p in self.registry.plugins):
            self.registry.plugins.append(podsecurity.PodSecurity())
        self.resources = resources.Resources(store, self.registry)
        self.webhooks = webhooks.Webhooks(store)  # webhooks and admission policies
        self.registry.plugins.append(self.webhooks)
        self.resources.deletes.webhooks = self.webhooks
        admission.seed_policy(self.registry)
        self.custom_resources = crds.CustomResources(store, self.registry)
        self.custom_resources.sync()  # serve the CRDs established before a restart
        self.node_ip, self.pod_cidr = node_ip, pod_cidr
        self.inflight = limits.InFlight()
        limits.allow_deep_objects()
        self.metrics = servermetrics.ServerMetrics(store)  # /metrics: apiserver_*, workqueue_*
        self.seed(node_facts or objects.node_facts(getattr(node, "root", None)))

    def seed(self, facts: objects.NodeFacts) -> None:
        """System namespaces, the default ServiceAccount of each namespace, the default
        IngressClass `podhost` and this machine's Node."""
        with contextlib.suppress(errors.AlreadyExistsError):
            self.registry.create("ingressclasses", ingress.podhost_class(), None)
        for name in namespaces.SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.AlreadyExistsError):
                self.registry.create("namespaces", {
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, None)
        for ns in self.store.list("namespaces")[0]:
            if not generic.namespace_terminating(ns):
                namespaces.strategy.after_create(self.registry.context(), ns)
        node = objects.node_object(self.node_name, facts, self.node_ip, self.pod_cidr)
        try:
            old = self.store.get("nodes", "", self.node_name)
        except errors.NotFoundError:
            self.registry.create("nodes", node, None, manager="kubelet")
            return
        node["metadata"]["uid"] = old["metadata"]["uid"]
        node["spec"] = {**old.get("spec", {}), **node["spec"]}
        self.registry.update("nodes", node, manager="kubelet", owns_status=True)

    def authenticated(self, request: Request) -> bool:
        """Authentication, impersonation and authorization: sets request.user; 401 or 403."""
        user = self.identity.authenticate(request)
        if user is None:
            return False
        if "impersonate-user" in request.headers or "impersonate-group" in request.headers:
            user = self.identity.impersonate(request, user)
        request.user = user
        if not user.is_admin():
            kubelet = nodeproxy.kubelet_attributes(request, user)  # nodes/metrics, nodes/stats
            if kubelet is None or not self.identity.allowed(kubelet):
                self.identity.authorize(identity.attributes(request, user))
        return True

    async def handle(self, request: Request) -> Response | StreamResponse | Upgrade:
        return await self.metrics.instrument(request, self.answer)  # apiserver_request_*

    async def answer(self, request: Request) -> Response | StreamResponse | Upgrade:
        try:
            if not ANONYMOUS_PATHS.match(request.path) and not self.authenticated(request):
                raise errors.UnauthorizedError("Unauthorized")
            return with_warnings(request, await self.limited(request))
        except errors.ApiError as e:
            return status_response(e)
        except Exception as e:  # the edge: never a traceback to the client
            log.exception("internal error serving %s %s", request.method, request.raw_target)
            return status_response(errors.InternalError(f"Internal error occurred: {e}"))

    async def limited(self, request: Request) -> Response | StreamResponse | Upgrade:
        """route() within the in-flight and per-client watch limits (limits.py)."""
        with self.inflight.admit(request) as admitted:
            if not admitted:
                return limits.too_many_requests()
            if not limits.is_watch(request):
                return await self.route(request)
            user = request.user.name if request.user is not None else "system:anonymous"
            if not self.inflight.watch_allowed(user):
                return limits.too_many_requests()
            answer = await self.route(request)
            if isinstance(answer, StreamResponse):
                return self.inflight.count_watch(user, answer)
            return answer

    async def route(self, request: Request) -> Response | StreamResponse | Upgrade:
        system = await self.system_paths(request)
        if system is not None:
            return system
        return await self.resource_path(request)

    async def system_paths(self, request: Request) -> Response | StreamResponse | None:
        """Version, health, discovery, OpenAPI, issuer, metrics and the node proxy."""
        path = request.path
        if path == "/version" or path == "/version/":
            return json_response(discovery.version())
        if ANONYMOUS_PATHS.match(path):
            return Response(200, b"ok", content_type="text/plain; charset=utf-8")
        fixed = {"/api": lambda: discovery.api_versions(self.server_address),
                 "/apis": discovery.api_group_list,
                 "/api/v1": discovery.api_resource_list,
                 "/openapi/v3": discovery.openapi_v3_root,
                 "/openapi/v3/api/v1": discovery.openapi_v3_core}
        if path.rstrip("/") == "/apis" and request.method == "GET" and \
                discovery.wants_aggregated(request.headers.get("accept", "")):
            return Response(200, json.dumps(discovery.api_group_discovery_list()).encode()
                            + b"\n",
                            content_type=discovery.AGGREGATED)
        if path.rstrip("/") == "/openapi/v2" and request.method == "GET":
            return discovery.openapi_v2_response(request.headers.get("accept", ""))
        if (issuer := self.tokens.discovery(path)) is not None and request.method == "GET":
            return issuer
        if path == "/metrics" and request.method == "GET":
            text = self.metrics.text() + await self.node.metrics_text()
            return Response(200, text.encode(),
                            content_type="text/plain; version=0.0.4; charset=utf-8")
        if path.rstrip("/") in fixed and request.method == "GET":
            return json_response(fixed[path.rstrip("/")]())
        found_doc = discovery.group_document(path.rstrip("/")) or \
            discovery.openapi_v3_group(path.rstrip("/"))
        if found_doc is not None and request.method == "GET":
            return json_response(found_doc)
        if path.startswith(f"/apis/{metrics.GROUP}/") or path == f"/apis/{metrics.GROUP}":
            found = await metrics.handle(self.store, self.node, request, self.node_name)
            if found is not None:
                return json_response(found)
        if path.startswith("/api/v1/nodes/") and "/proxy/" in path:
            endpoint = await nodeproxy.handle(self.node, self.node_name, request)
            if endpoint is not None:
                return endpoint
            proxied = await volumes.handle(self.store, self.node, self.node_name, request)
            if proxied is not None:
                return proxied
        return None

    async def resource_path(self, request: Request) -> Response | StreamResponse | Upgrade:
        """/api/v1/... and /apis/GROUP/VERSION/...: streaming subresources, then the verbs."""
        path = request.path
        if (served_v1 := await hpav1.handle(request, self.route)) is not None:
            return served_v1  # autoscaling/v1, converted to and from the stored v2
        if (served_events := await eventsv1.handle(request, self.route)) is not None:
            return served_events  # events.k8s.io/v1, converted to and from core v1 Events
        m = RESOURCE_PATH.match(path)
        if not m:
            raise errors.NotFoundError("the server could not find the requested resource")
        ns, resource, name, sub = m.group("ns", "resource", "name", "sub")
        if registry.served(resource, m.group("group") or "", m.group("version") or "v1") is None:
            raise errors.NotFoundError("the server could not find the requested resource")
        streaming = STREAMING.get((resource, sub or ""))
        if streaming is not None:
            answer: Response | StreamResponse | Upgrade = await streaming(
                self.store, self.node, request, ns or "", name or "")
            return answer
        if (custom := custom_resources.get(resource)) is not None and \
                (warning := custom.deprecation(m.group("version") or "")):
            request.warnings.append(warning)
        answer = await self.dispatch(request, resource, ns, name, sub)
        if m.group("version") and isinstance(answer, Response):
            return crds.convert_response(answer, resource, m.group("version"))
        return answer

    async def dispatch(self, request: Request, resource: str, ns: str | None, name: str | None,
                       sub: str | None) -> Response | StreamResponse:
        """The identity endpoints (TokenRequest, the reviews), then the CRUD verbs."""
        if (resource, sub) == ("serviceaccounts", "token"):
            return self.tokens.token_request(request, ns or "", name or "")
        review = reviews.REVIEWS.get(resource)
        if review is not None and name is None:
            return reviews.handle(self.identity, request, resource, ns)
        answer = await self.resources.dispatch(request, resource, ns, name, sub)
        if (resource, request.method) in AGGREGATING:
            admission.aggregate(self.registry)  # the clusterrole-aggregation controller
        if request.method != "GET" and self.custom_resources.concerns(resource):
            self.custom_resources.sync()  # establishing, naming and cleanup controllers
        return answer
