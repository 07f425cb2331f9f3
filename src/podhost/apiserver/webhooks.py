"""Dynamic admission: mutating and validating webhooks (AdmissionReview v1 over HTTPS) and
ValidatingAdmissionPolicies, run on every create and update as kube-apiserver's
MutatingAdmissionWebhook, ValidatingAdmissionPolicy and ValidatingAdmissionWebhook plugins do.

A webhook's Service target is called at a ready endpoint of the Service (its Pod IP and
target port, reachable from the node on the bridge), with the TLS server name
`<service>.<namespace>.svc` that its certificate names, so the call does not depend on the
ClusterIP being reachable from the host. The call is synchronous: the API server waits for the
webhook (at most its timeoutSeconds) as a real API server's request does.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import uuid
from typing import Any
from urllib.parse import urlsplit

from podhost.api import errors, registry
from podhost.api import patch as patches
from podhost.api.admissionregistration import (
    Attributes,
    cel_data,
    conditions_match,
    denied,
    failed_calling,
    review,
    rule_matches,
    selectors_match,
)
from podhost.api.types import Obj
from podhost.apiserver import policies
from podhost.registry import strategies
from podhost.registry.strategy import Context
from podhost.store.sqlite import Store


def exempt(resource: str) -> bool:
    """Objects admission never applies to: its own configuration, Events, and what is not
    stored (the reviews)."""
    try:
        return strategies.get(resource).admission_exempt
    except KeyError:
        return True

class _Connection(http.client.HTTPSConnection):
    """A kept-alive HTTPS connection to one webhook: TCP_NODELAY (a request is one write,
    no waiting on delayed ACKs) and the TLS server name of a Service target."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, server_name: str,
                 timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_name, self.tls = server_name, context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)


IN_PROCESS_USER = "system:podhost"  # the node's own writers (controllers, the kubelet)
CONFIGS = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations",
           "validatingadmissionpolicies", "validatingadmissionpolicybindings")


def attributes(ctx: Context, resource: str, obj: Obj | None, old: Obj | None,
               subresource: str = "") -> Attributes:
    served = registry.get(resource)
    group, version = (served.group, served.version) if served else ("", "v1")
    m = (obj or old or {}).get("metadata") or {}
    user = ctx.user
    info: Obj = {"username": user.name if user else IN_PROCESS_USER,
                 "uid": user.uid if user else "",
                 "groups": list(user.groups) if user else ["system:masters"]}
    if user is not None and user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra}
    operation = "CREATE" if old is None else "UPDATE" if obj is not None else "DELETE"
    return Attributes(operation, group, version, resource, subresource,
                      registry.kind_of(resource), m.get("namespace") or "", m.get("name") or "",
                      obj, old, info, ctx.dry_run)


class Webhooks:
    """The registry's admission plugin (generic.AdmissionPlugin) for webhooks and policies."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: tuple[tuple[int, int], dict[str, list[Obj]]] | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._connections: dict[tuple[str, int, str, str], _Connection] = {}

    def configs(self) -> dict[str, list[Obj]]:
        """The four configuration lists, re-read only when one of them changed."""
        version = self.store.version_of(CONFIGS)
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, {r: self.store.list(r)[0] for r in CONFIGS})
        return self._cache[1]

    def mutate(self, ctx: Context, resource: str, obj: Obj, old: Obj | None) -> None:
        """The mutating webhooks, in name order, patching `obj` in place; IfNeeded webhooks
        are called once more when a later webhook changed the object."""
        if exempt(resource):
            return
        hooks = [h for c in sorted(self.configs()["mutatingwebhookconfigurations"],
                                   key=lambda c: c["metadata"]["name"])
                 for h in c.get("webhooks") or []]
        if not hooks:
            return
        subresource = ctx.subresource
        called: list[tuple[Obj, str]] = []  # IfNeeded webhooks and the object they saw
        for hook in hooks:
            if self._call(ctx, hook, resource, obj, old, subresource, mutating=True) and \
                    hook.get("reinvocationPolicy") == "IfNeeded":
                called.append((hook, json.dumps(obj, sort_keys=True)))
        final = json.dumps(obj, sort_keys=True)
        for hook, seen in called:
            if seen != final:
                self._call(ctx, hook, resource, obj, old, subresource, mutating=True)

    def validate(self, ctx: Context, resource: str, obj: Obj | None, old: Obj | None) -> None:
        """ValidatingAdmissionPolicies, then the validating webhooks."""
        if exempt(resource):
            return
        subresource = ctx.subresource
        configs = self.configs()
        if configs["validatingadmissionpolicybindings"]:
            a = attributes(ctx, resource, obj, old, subresource)
            ctx.warnings.extend(policies.evaluate(self.store, configs, a, self._namespace(a)))
        for config in configs["validatingwebhookconfigurations"]:
            for hook in config.get("webhooks") or []:
                self._call(ctx, hook, resource, obj, old, subresource, mutating=False)

    def validate_delete(self, ctx: Context, resource: str, obj: Obj) -> None:
        """Validating admission of a DELETE (`oldObject` is the object)."""
        ctx.subresource = ""
        self.validate(ctx, resource, None, obj)

    def _namespace(self, a: Attributes) -> Obj | None:
        if a.resource == "namespaces":
            return a.obj or a.old
        if not a.namespace:
            return None
        try:
            return self.store.get("namespaces", "", a.namespace)
        except errors.NotFoundError:
            return None

    def _call(self, ctx: Context, hook: Obj, resource: str, obj: Obj | None,
              old: Obj | None, subresource: str, mutating: bool) -> bool:
        """Call one webhook if it matches; True when it was called."""
        a = attributes(ctx, resource, obj, old, subresource)
        if not self._matches(hook, a):
            return False
        name = hook.get("name", "")
        if a.dry_run and hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise errors.BadRequestError(f'admission webhook "{name}" does not support dry run')
        uid = str(uuid.uuid4())
        try:
            answer = self.post(hook, review(a, uid))
        except ValueError as e:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return True
            raise failed_calling(name, str(e)) from None
        response = answer.get("response") or {}
        if response.get("uid") != uid and hook.get("failurePolicy", "Fail") != "Ignore":
            raise failed_calling(name, f"expected response.uid=\"{uid}\", got "
                                       f"\"{response.get('uid', '')}\"")
        ctx.warnings.extend(w for w in response.get("warnings") or [] if w)
        if not response.get("allowed"):
            raise denied(name, response.get("status"))
        if mutating and response.get("patch") and obj is not None:
            ops = json.loads(base64.b64decode(response["patch"]))
            patched = patches.json_patch(obj, ops)
            obj.clear()
            obj.update(patched)
        return True

    def _matches(self, hook: Obj, a: Attributes) -> bool:
        served = registry.get(a.resource)
        versions = served.versions if served and hook.get("matchPolicy") != "Exact" \
            else (a.version,)
        if not any(rule_matches(r, a, versions) for r in hook.get("rules") or []):
            return False
        ns = self._namespace(a)
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {} if ns else None
        if not selectors_match(hook, a, labels):
            return False
        if not hook.get("matchConditions"):
            return True
        ok, error = conditions_match(hook["matchConditions"], cel_data(a))
        if error and hook.get("failurePolicy", "Fail") == "Fail":
            raise failed_calling(hook.get("name", ""), f"matchCondition error: {error}")
        return ok

    def _context(self, ca_bundle: str) -> ssl.SSLContext:
        context = self._contexts.get(ca_bundle)
        if context is None:
            if ca_bundle:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.load_verify_locations(cadata=base64.b64decode(ca_bundle).decode())
            else:
                context = ssl.create_default_context()
            self._contexts[ca_bundle] = context
        return context

    def post(self, hook: Obj, body: Obj) -> Obj:
        client = hook.get("clientConfig") or {}
        timeout = float(hook.get("timeoutSeconds") or 10)
        url, server_name = client.get("url") or "", ""
        if client.get("service"):
            url, server_name = self._service_url(client["service"])
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}&" if parts.query else "?") + \
            f"timeout={int(timeout)}s"
        key = (parts.hostname or "", parts.port or 443, str(client.get("caBundle") or ""),
               server_name)
        payload = json.dumps(body).encode()
        for attempt in (1, 2):  # a kept-alive connection the webhook closed: once more
            conn = self._connections.get(key)
            if conn is None:
                conn = self._connections[key] = _Connection(
                    key[0], key[1], self._context(key[2]), server_name or key[0], timeout)
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request("POST", target, body=payload,
                             headers={"Content-Type": "application/json",
                                      "Accept": "application/json"})
                reply = conn.getresponse()
                data = reply.read()
                break
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                self._connections.pop(key, None)
                if attempt == 2 or not isinstance(e, (http.client.HTTPException,
                                                      ConnectionResetError, BrokenPipeError)):
                    where = f"https://{parts.netloc}{target}"
                    raise ValueError(f'failed to call webhook: Post "{where}": '
                                     f"{_reason(e)}") from None
        if reply.status != 200:
            raise ValueError(f"received invalid webhook response: status code {reply.status}")
        answer: Obj = json.loads(data)
        return answer

    def _service_url(self, service: Obj) -> tuple[str, str]:
        """A ready endpoint of the Service: (https URL at the Pod IP, the TLS server name)."""
        ns, name = service.get("namespace", ""), service.get("name", "")
        port = int(service.get("port") or 443)
        try:
            svc = self.store.get("services", ns, name)
        except errors.NotFoundError:
            raise ValueError(f'service "{name}" not found') from None
        target: Any = port
        for p in (svc.get("spec") or {}).get("ports") or []:
            if p.get("port") == port:
                target = p.get("targetPort", port)
        for eps in self.store.list("endpointslices", ns)[0]:
            if (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != name:
                continue
            ports = {p.get("name", ""): p.get("port") for p in eps.get("ports") or []}
            number = target if isinstance(target, int) else next(iter(ports.values()), port)
            for ep in eps.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready", True) and ep.get("addresses"):
                    path = service.get("path") or ""
                    return (f"https://{ep['addresses'][0]}:{number}{path}",
                            f"{name}.{ns}.svc")
        raise ValueError(f'service "{ns}/{name}" has no ready endpoints')



def _reason(error: Exception) -> str:
    """An OSError as Go's net package words the common ones."""
    if isinstance(error, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(error, TimeoutError):
        return "context deadline exceeded"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {error.verify_message}"
    return str(error)
