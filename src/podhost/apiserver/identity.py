"""Who is asking and may they: authentication (the admin token, client certificates of the
node's CA, ServiceAccount JWTs), impersonation (`Impersonate-*` headers) and RBAC authorization
of every request, as kube-apiserver's filter chain does (authentication → impersonation →
authorization), with the Status texts of its response writers.

The admin (group system:masters) is allowed before any RBAC object is read, so the admin path
costs one set lookup; other users' decisions read a policy cached per store resourceVersion.
"""

from __future__ import annotations

import hmac
import re
import threading
from typing import Any

from podhost.api import errors, rbac
from podhost.api.rbac import AUTHENTICATED, MASTERS, Attributes, User
from podhost.apiserver.http import Request
from podhost.apiserver.tokens import TokenService, service_account_groups
from podhost.store.sqlite import Store

ADMIN = User("podhost-admin", (MASTERS, AUTHENTICATED))
RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[a-z0-9]+))/"
    r"(?:namespaces/(?P<ns>[^/]+)/(?=[a-z]))?(?P<resource>[a-z]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?(?:/.*)?$")
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_CONNECT = frozenset({"exec", "attach", "portforward"})
RBAC_RESOURCES = ("clusterroles", "clusterrolebindings", "roles", "rolebindings")


def cert_user(cert: dict[str, Any]) -> User | None:
    """x509 request authentication: CN the user name, each O a group."""
    name, groups = "", []
    for rdn in cert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return User(name, (*groups, AUTHENTICATED))


NODE_PROXY_PATH = re.compile(r"^/api/v1/nodes/([^/]+)/proxy(?:/.*)?$")
VOLUME_PATH = re.compile(r"^/api/v1/nodes/[^/]+/proxy/podhost/volumes/([^/]+)/([^/]+)(?:/.*)?$")


def attributes(request: Request, user: User) -> Attributes:
    """RequestInfoFactory: the verb, group, resource, subresource, namespace and name."""
    volume = VOLUME_PATH.match(request.path)
    if volume:  # reading a Pod's volume from outside: as much as exec into the Pod
        return Attributes(user, "create", True, "", "pods", "exec", volume.group(1),
                          volume.group(2))
    proxy = NODE_PROXY_PATH.match(request.path)
    if proxy:  # the node proxy: nodes/proxy whatever follows it, as the API server parses it
        verb = {"GET": "get", "HEAD": "get", "DELETE": "delete", "PUT": "update",
                "PATCH": "patch"}.get(request.method, "create")
        return Attributes(user, verb, True, "", "nodes", "proxy", "", proxy.group(1))
    m = RESOURCE_PATH.match(request.path)
    if not m or request.path.startswith("/apis/") and m.group("group") is None:
        verb = {"HEAD": "get"}.get(request.method, request.method.lower())
        return Attributes(user, verb, resource_request=False, path=request.path)
    ns, resource, name, sub = m.group("ns", "resource", "name", "sub")
    if resource == "namespaces" and name and not ns:
        ns = name
    if request.method in ("GET", "HEAD"):
        verb = "get" if name else "list"
        if request.flag("watch"):
            verb = "watch"
    elif request.method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(request.method, request.method.lower())
    if sub in _CONNECT:
        verb = "create" if request.method in ("GET", "POST") else verb
    return Attributes(user, verb, True, m.group("group") or "", resource, sub or "", ns or "",
                      name or "")


class Identity:
    def __init__(self, store: Store, admin_token: str, tokens: TokenService) -> None:
        self.store, self.admin_token, self.tokens = store, admin_token, tokens
        # the policy, the version of the RBAC objects it was built from, its decisions so far
        self._policy: tuple[tuple[int, int], rbac.Policy, dict[Attributes, bool]] | None = None
        self._lock = threading.Lock()

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> User | None:
        if request.peer_cert:  # verified against the node's CA by the TLS layer
            return cert_user(request.peer_cert)
        auth = request.headers.get("authorization", "")
        if not auth[:7].lower() == "bearer ":
            return None
        token = auth[7:].strip()
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        if token.count(".") == 2:
            return self.tokens.authenticate(token)
        return None

    # -- authorization ----------------------------------------------------------------------
    def _current(self) -> tuple[rbac.Policy, dict[Attributes, bool]]:
        """Roles and bindings as of now, read again only after one of them changed."""
        version = self.store.version_of(RBAC_RESOURCES)
        with self._lock:
            if self._policy is not None and self._policy[0] == version:
                return self._policy[1], self._policy[2]
        policy = rbac.build_policy(*(self.store.list(r)[0] for r in (
            "clusterroles", "roles", "clusterrolebindings", "rolebindings")))
        decisions: dict[Attributes, bool] = {}
        with self._lock:
            self._policy = (version, policy, decisions)
        return policy, decisions

    def policy(self) -> rbac.Policy:
        return self._current()[0]

    def allowed(self, a: Attributes) -> bool:
        if a.user.is_admin():
            return True
        policy, decisions = self._current()
        found = decisions.get(a)
        if found is None:
            found = rbac.authorize(policy, a)
            if len(decisions) >= 10000:
                decisions.clear()
            decisions[a] = found
        return found

    def authorize(self, a: Attributes) -> None:
        if not self.allowed(a):
            raise forbidden(a)

    def rules(self, user: User, namespace: str) -> list[dict[str, Any]]:
        return list(rbac.rules_for(self.policy(), user, namespace))

    def role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        """The rules of the role a binding's roleRef names."""
        policy = self.policy()
        if ref.get("kind") == "ClusterRole":
            return list(policy.cluster_roles.get(str(ref.get("name") or ""), []))
        return list(policy.roles.get((namespace, str(ref.get("name") or "")), []))

    # -- impersonation ----------------------------------------------------------------------
    def impersonate(self, request: Request, user: User) -> User:
        """WithImpersonation: the requester must be allowed to impersonate each part."""
        name = request.headers.get("impersonate-user")
        groups = request.header_values("impersonate-group") if \
            request.headers.get("impersonate-group") is not None else []
        extra_keys = [k for k, _ in request.header_list if k.startswith("impersonate-extra-")]
        if name is None:
            if groups or extra_keys:
                raise errors.InternalError(
                    "Internal error occurred: requested [" + ", ".join(groups) +
                    "] without impersonating a user")
            return user
        checks: list[Attributes] = []
        if name.startswith(rbac.SA_PREFIX) and name.count(":") == 3:
            _, _, ns, sa = name.split(":")
            checks.append(Attributes(user, "impersonate", True, "", "serviceaccounts", "", ns,
                                     sa))
            if not groups:
                groups = list(service_account_groups(ns))
        else:
            checks.append(Attributes(user, "impersonate", True, "", "users", "", "", name))
        checks += [Attributes(user, "impersonate", True, "", "groups", "", "", g)
                   for g in groups]
        extra: list[tuple[str, tuple[str, ...]]] = []
        for key in dict.fromkeys(extra_keys):
            field = key[len("impersonate-extra-"):]
            values = tuple(request.header_values(key))
            extra.append((field, values))
            checks += [Attributes(user, "impersonate", True, "authentication.k8s.io",
                                  "userextras", field, "", v) for v in values]
        for a in checks:
            if not self.allowed(a):
                raise forbidden(a)
        if name != "system:anonymous" and AUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
        return User(name, tuple(dict.fromkeys(groups)), request.headers.get("impersonate-uid")
                    or "", tuple(extra))


def forbidden(a: Attributes, reason: str = "") -> errors.ForbiddenError:
    return errors.ForbiddenError(rbac.forbidden_message(a, reason), kind=a.resource,
                                 name=a.name, group=a.group)
