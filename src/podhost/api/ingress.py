"""networking.k8s.io/v1 Ingress and IngressClass: the registry strategies' defaults, validation
as pkg/apis/networking/validation words it (field paths and messages), the DefaultIngressClass
admission plugin's choice of class, and which Ingresses a controller serves (pure)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from podhost.api import errors, meta
from podhost.api.containers import port_name_errors
from podhost.api.errors import FieldError
from podhost.api.service import dns1035_label_errors
from podhost.api.types import Obj

CONTROLLER = "podhost.io/ingress-controller"
DEFAULT_CLASS = "podhost"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
SCOPES = ["Cluster", "Namespace"]
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
_WILDCARD_FMT = r"\*\." + meta.SUBDOMAIN_FMT
_WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                 "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                 "'.' and end with an alphanumeric character (e.g. '*.example.com', regex used "
                 f"for validation is '{_WILDCARD_FMT}')")
_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
MAX_CONTROLLER = 250


class GoRules:
    """The `spec.rules` value of the "either defaultBackend or rules" error, as %#v prints it."""

    def __init__(self, rules: Any) -> None:
        self.empty_list = rules is not None

    def __str__(self) -> str:
        return "[]networking.IngressRule{}" if self.empty_list else \
            "[]networking.IngressRule(nil)"


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def wildcard_errors(host: str) -> list[str]:
    """IsWildcardDNS1123Subdomain."""
    errs = []
    if len(host) > meta.DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {meta.DNS1123_SUBDOMAIN_MAX} characters")
    if not re.fullmatch(_WILDCARD_FMT, host):
        errs.append(_WILDCARD_MSG)
    return errs


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def path_segment_errors(name: str) -> list[str]:
    """content.IsPathSegmentName."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# -- defaults and strategy ------------------------------------------------------------------------
def prepare_create(ing: Obj) -> None:
    """PrepareForCreate: generation 1 (the status is the registry's empty one)."""
    ing.setdefault("spec", {})
    ing["metadata"]["generation"] = 1


def prepare_update(new: Obj, old: Obj) -> None:
    """PrepareForUpdate: a spec change bumps the generation (the status is kept apart)."""
    new.setdefault("spec", {})
    bump_generation(new, old)


def bump_generation(new: Obj, old: Obj) -> None:
    generation = int(old["metadata"].get("generation") or 1)
    new["metadata"]["generation"] = generation + (new.get("spec") != old.get("spec"))


def default_class(ic: Obj) -> None:
    """SetDefaults_IngressClass: parameters without a scope are Cluster-scoped."""
    params = _dict(_dict(ic.get("spec")).get("parameters"))
    if params and params.get("scope") is None:
        params["scope"] = "Cluster"


# -- DefaultIngressClass admission ----------------------------------------------------------------
def default_class_name(classes: list[Obj]) -> str | None:
    """getDefaultClass: the newest class marked default (ties broken by name)."""
    marked = [c for c in classes if (c["metadata"].get("annotations") or {})
              .get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not marked:
        return None
    marked.sort(key=lambda c: c["metadata"]["name"])
    marked.sort(key=lambda c: str(c["metadata"].get("creationTimestamp") or ""), reverse=True)
    return str(marked[0]["metadata"]["name"])


def admit_default_class(ingress: Obj, classes: list[Obj]) -> None:
    """An Ingress created with neither `ingressClassName` nor the class annotation gets the
    default class, if there is one."""
    spec = ingress.setdefault("spec", {})
    if spec.get("ingressClassName") is not None:
        return
    if CLASS_ANNOTATION in (ingress["metadata"].get("annotations") or {}):
        return
    name = default_class_name(classes)
    if name is not None:
        spec["ingressClassName"] = name


# -- validation ----------------------------------------------------------------------------------
def validate_ingress(ing: Obj, old: Obj | None = None) -> list[FieldError]:
    """ValidateIngressCreate / ValidateIngressUpdate (ObjectMeta is checked generically)."""
    spec = _dict(ing.get("spec"))
    errs = validate_spec(spec, allow_invalid_secret=old is not None and _old_invalid_secret(old))
    annotation = (ing["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION)
    class_name = spec.get("ingressClassName")
    if old is None and annotation is not None and class_name is not None \
            and annotation != class_name:
        errs.append(errors.invalid(f"annotations.{CLASS_ANNOTATION}", annotation,
                                   "must match `ingressClassName` when both are specified"))
    return errs


def _old_invalid_secret(old: Obj) -> bool:
    return any(_tls_secret_errors(_dict(t).get("secretName") or "")
               for t in _dict(old.get("spec")).get("tls") or [])


def _tls_secret_errors(name: str) -> list[str]:
    return meta.dns1123_subdomain_errors(name) if name else []


def validate_status(ing: Obj) -> list[FieldError]:
    """ValidateIngressLoadBalancerStatus: addresses are IPs, hostnames DNS names."""
    errs: list[FieldError] = []
    lb = _dict(_dict(ing.get("status")).get("loadBalancer"))
    for i, entry in enumerate(lb.get("ingress") or []):
        entry, path = _dict(entry), f"status.loadBalancer.ingress[{i}]"
        if entry.get("ip") and not _is_ip(str(entry["ip"])):
            errs.append(errors.invalid(f"{path}.ip", entry["ip"], "must be a valid IP address, "
                                       "(e.g. 10.9.8.7 or 2001:db8::ffff)"))
        if entry.get("hostname"):
            host = str(entry["hostname"])
            errs += [errors.invalid(f"{path}.hostname", host, m)
                     for m in meta.dns1123_subdomain_errors(host)]
            if _is_ip(host):
                errs.append(errors.invalid(f"{path}.hostname", host,
                                           "must be a DNS name, not an IP address"))
    return errs


def validate_spec(spec: Obj, allow_invalid_secret: bool = False) -> list[FieldError]:
    errs: list[FieldError] = []
    rules = spec.get("rules")
    if not rules and spec.get("defaultBackend") is None:
        errs.append(errors.invalid("spec", GoRules(rules),
                                   "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += _backend(_dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(rules or []):
        errs += _rule(_dict(rule), f"spec.rules[{i}]")
    for i, tls in enumerate(spec.get("tls") or []):
        errs += _tls(_dict(tls), f"spec.tls[{i}]", allow_invalid_secret)
    class_name = spec.get("ingressClassName")
    if class_name is not None:
        errs += [errors.invalid("spec.ingressClassName", class_name, m)
                 for m in meta.dns1123_subdomain_errors(str(class_name))]
    return errs


def _host_errors(host: str, path: str) -> list[FieldError]:
    if "*" in host:
        return [errors.invalid(path, host, m) for m in wildcard_errors(host)]
    return [errors.invalid(path, host, m) for m in meta.dns1123_subdomain_errors(host)]


def _tls(tls: Obj, path: str, allow_invalid_secret: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, host in enumerate(tls.get("hosts") or []):
        errs += _host_errors(str(host), f"{path}.hosts[{i}]")
    secret = tls.get("secretName") or ""
    if not allow_invalid_secret:
        errs += [errors.invalid(f"{path}.secretName", secret, m)
                 for m in _tls_secret_errors(secret)]
    return errs


def _rule(rule: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    host = rule.get("host") or ""
    if host:
        if _is_ip(host):
            errs.append(errors.invalid(f"{path}.host", host,
                                       "must be a DNS name, not an IP address"))
        errs += _host_errors(host, f"{path}.host")
    if rule.get("http") is not None:
        http = _dict(rule["http"])
        paths = http.get("paths") or []
        if not paths:
            errs.append(errors.required(f"{path}.http.paths"))
        for i, p in enumerate(paths):
            errs += _http_path(_dict(p), f"{path}.http.paths[{i}]")
    return errs


def _http_path(p: Obj, path: str) -> list[FieldError]:
    kind = p.get("pathType")
    if kind is None:
        return [errors.required(f"{path}.pathType", "pathType must be specified")]
    value = p.get("path") or ""
    errs: list[FieldError] = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(errors.invalid(f"{path}.path", value, "must be an absolute path"))
        errs += [errors.invalid(f"{path}.path", value, f"must not contain '{s}'")
                 for s in _INVALID_SEQUENCES if s in value]
        errs += [errors.invalid(f"{path}.path", value, f"cannot end with '{s}'")
                 for s in _INVALID_SUFFIXES if value.endswith(s)]
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(errors.invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        errs.append(errors.not_supported(f"{path}.pathType", kind, PATH_TYPES))
    return errs + _backend(_dict(p.get("backend")), f"{path}.backend")


def _backend(backend: Obj, path: str) -> list[FieldError]:
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [errors.invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _typed_reference(_dict(resource), f"{path}.resource")
    if service is None:
        return [errors.invalid(path, "", "resource or service backend is required")]
    service = _dict(service)
    errs: list[FieldError] = []
    name = service.get("name") or ""
    if not name:
        errs.append(errors.required(f"{path}.service.name"))
    else:
        errs += [errors.invalid(f"{path}.service.name", name, m)
                 for m in dns1035_label_errors(name)]
    port = _dict(service.get("port"))
    port_name, number = port.get("name") or "", port.get("number") or 0
    if port_name and number:
        errs.append(errors.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs += [errors.invalid(f"{path}.service.port.name", port_name, m)
                 for m in port_name_errors(port_name)]
    elif number:
        if not 1 <= int(number) <= 65535:
            errs.append(errors.invalid(f"{path}.service.port.number", number,
                                       "must be between 1 and 65535, inclusive"))
    else:
        errs.append(errors.required(path, "port name or number is required"))
    return errs


def _typed_reference(ref: Obj, path: str) -> list[FieldError]:
    """validateIngressTypedLocalObjectReference."""
    errs: list[FieldError] = []
    group = ref.get("apiGroup")
    if group is not None:
        errs += [errors.invalid(f"{path}.apiGroup", group, m)
                 for m in meta.dns1123_subdomain_errors(str(group))]
    for key in ("kind", "name"):
        value = ref.get(key) or ""
        if not value:
            errs.append(errors.required(f"{path}.{key}"))
        else:
            errs += [errors.invalid(f"{path}.{key}", value, m) for m in path_segment_errors(value)]
    return errs


def validate_class(ic: Obj, old: Obj | None = None) -> list[FieldError]:
    """ValidateIngressClass / ValidateIngressClassUpdate."""
    spec = _dict(ic.get("spec"))
    errs: list[FieldError] = []
    if old is not None:
        old_controller = _dict(old.get("spec")).get("controller")
        if spec.get("controller") != old_controller:
            errs.append(errors.invalid("spec.controller", spec.get("controller"),
                                       "field is immutable"))
    controller = spec.get("controller") or ""
    if not controller:
        errs.append(errors.required("spec.controller"))
    else:
        if len(controller) > MAX_CONTROLLER:
            errs.append(FieldError("FieldValueTooLong", "spec.controller",
                                   f"may not be more than {MAX_CONTROLLER} bytes", "", True))
        errs += _domain_prefixed_path(controller, "spec.controller")
    if spec.get("parameters") is not None:
        errs += _parameters(_dict(spec["parameters"]), "spec.parameters")
    return errs


def _domain_prefixed_path(value: str, path: str) -> list[FieldError]:
    """IsDomainPrefixedPath."""
    host, _, rest = value.partition("/")
    if "/" not in value or not host or not rest:
        return [errors.invalid(path, value,
                               'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [errors.invalid(path, host, m) for m in meta.dns1123_subdomain_errors(host)]
    if not re.fullmatch(_HTTP_PATH_FMT, rest):
        errs.append(errors.invalid(path, rest, "Invalid path (regex used for validation is "
                                               f"'{_HTTP_PATH_FMT}')"))
    return errs


def _parameters(params: Obj, path: str) -> list[FieldError]:
    """validateIngressClassParametersReference."""
    errs = _typed_reference({k: v for k, v in params.items() if k != "scope"}, path)
    scope = params.get("scope")
    if scope is None:
        return errs + [errors.required(f"{path}.scope")]
    if scope not in SCOPES:
        return errs + [errors.not_supported(f"{path}.scope", scope, SCOPES)]
    namespace = params.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            errs.append(errors.required(f"{path}.namespace",
                                        "`parameters.scope` is set to 'Namespace'"))
        else:
            errs += [errors.invalid(f"{path}.namespace", namespace, m)
                     for m in meta.dns1123_label_errors(str(namespace))]
    elif namespace is not None:
        errs.append(errors.forbidden(f"{path}.namespace",
                                     "`parameters.scope` is set to 'Cluster'"))
    return errs


# -- which Ingresses a controller serves ---------------------------------------------------------
def served_by(ing: Obj, classes: list[Obj], controller: str = CONTROLLER) -> bool:
    """Whether the controller `controller` serves `ing`: its class (field, else the legacy
    annotation) names a class of that controller; an Ingress without a class is served when
    the default class is the controller's."""
    spec = _dict(ing.get("spec"))
    name = spec.get("ingressClassName") or \
        (ing["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION)
    ours = {c["metadata"]["name"] for c in classes
            if _dict(c.get("spec")).get("controller") == controller}
    if name:
        return name in ours
    return default_class_name(classes) in ours


def podhost_class() -> Obj:
    """The IngressClass the node creates at start, the default class."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": DEFAULT_CLASS,
                         "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "spec": {"controller": CONTROLLER}}
